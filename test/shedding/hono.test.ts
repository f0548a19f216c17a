import { honoHarness } from '../adapters.js';
import { runShedding } from './suite.js';

runShedding(honoHarness);
