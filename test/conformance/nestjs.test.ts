import { nestjsHarness } from '../adapters.js';
import { runConformance } from './suite.js';

runConformance(nestjsHarness);
