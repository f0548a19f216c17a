import { nestjsFastifyHarness } from '../adapters.js';
import { runConformance } from './suite.js';

runConformance(nestjsFastifyHarness);
