import { honoHarness } from '../adapters.js';
import { runConformance } from './suite.js';

runConformance(honoHarness);
