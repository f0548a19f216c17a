import { honoHarness } from '../adapters.js';
import { runRecoveryOutageSuite } from './suite.js';

runRecoveryOutageSuite(honoHarness);
