import { fastifyHarness } from '../adapters.js';
import { runObservability } from './suite.js';

runObservability(fastifyHarness);
