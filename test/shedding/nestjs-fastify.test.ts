import { nestjsFastifyHarness } from '../adapters.js';
import { runShedding } from './suite.js';

runShedding(nestjsFastifyHarness);
