import { koaHarness } from '../adapters.js';
import { runConformance } from './suite.js';

runConformance(koaHarness);
