import { koaHarness } from '../adapters.js';
import { runShedding } from './suite.js';

runShedding(koaHarness);
