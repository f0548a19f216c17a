import { nestjsHarness } from '../adapters.js';
import { runShedding } from './suite.js';

runShedding(nestjsHarness);
