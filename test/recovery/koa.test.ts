import { koaHarness } from '../adapters.js';
import { runRecoverySuite } from './suite.js';

runRecoverySuite(koaHarness);
