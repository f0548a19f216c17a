import { nestjsFastifyHarness } from '../adapters.js';
import { runSheddingAdversary } from './suite.js';

runSheddingAdversary(nestjsFastifyHarness);
