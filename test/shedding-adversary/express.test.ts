import { expressHarness } from '../adapters.js';
import { runSheddingAdversary } from './suite.js';

runSheddingAdversary(expressHarness);
