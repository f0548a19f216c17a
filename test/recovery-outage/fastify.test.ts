import { fastifyHarness } from '../adapters.js';
import { runRecoveryOutageSuite } from './suite.js';

runRecoveryOutageSuite(fastifyHarness);
