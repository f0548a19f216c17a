import { honoHarness } from '../adapters.js';
import { runRecoverySuite } from './suite.js';

runRecoverySuite(honoHarness);
