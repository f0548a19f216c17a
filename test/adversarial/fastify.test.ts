import { fastifyHarness } from '../adapters.js';
import { runAdversarial } from './suite.js';

runAdversarial(fastifyHarness);
