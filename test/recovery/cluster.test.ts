import { expressHarness } from '../adapters.js';
import { runRecoverySuite } from './suite.js';

// The recovery suite on a Redis Cluster (three masters, three replicas), one adapter: the
// cluster changes the hub under the endpoint, not the adapter.
runRecoverySuite(expressHarness, 'cluster');
