import { honoHarness } from '../adapters.js';
import { runSheddingAdversary } from './suite.js';

runSheddingAdversary(honoHarness);
