import { nestjsHarness } from '../adapters.js';
import { runSheddingAdversary } from './suite.js';

runSheddingAdversary(nestjsHarness);
