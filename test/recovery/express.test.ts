import { expressHarness } from '../adapters.js';
import { runRecoverySuite } from './suite.js';

runRecoverySuite(expressHarness);
