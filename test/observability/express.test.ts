import { expressHarness } from '../adapters.js';
import { runObservability } from './suite.js';

runObservability(expressHarness);
