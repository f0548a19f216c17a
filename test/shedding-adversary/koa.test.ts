import { koaHarness } from '../adapters.js';
import { runSheddingAdversary } from './suite.js';

runSheddingAdversary(koaHarness);
