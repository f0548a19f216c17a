import { expressHarness } from '../adapters.js';
import { runShedding } from './suite.js';

runShedding(expressHarness);
