import { expressHarness } from '../adapters.js';
import { runConformance } from './suite.js';

runConformance(expressHarness);
