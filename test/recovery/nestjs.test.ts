import { nestjsHarness } from '../adapters.js';
import { runRecoverySuite } from './suite.js';

runRecoverySuite(nestjsHarness);
