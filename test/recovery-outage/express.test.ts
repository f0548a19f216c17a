import { expressHarness } from '../adapters.js';
import { runRecoveryOutageSuite } from './suite.js';

runRecoveryOutageSuite(expressHarness);
