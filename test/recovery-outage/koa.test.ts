import { koaHarness } from '../adapters.js';
import { runRecoveryOutageSuite } from './suite.js';

runRecoveryOutageSuite(koaHarness);
