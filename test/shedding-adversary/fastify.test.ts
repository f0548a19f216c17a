import { fastifyHarness } from '../adapters.js';
import { runSheddingAdversary } from './suite.js';

runSheddingAdversary(fastifyHarness);
