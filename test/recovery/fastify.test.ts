import { fastifyHarness } from '../adapters.js';
import { runRecoverySuite } from './suite.js';

runRecoverySuite(fastifyHarness);
