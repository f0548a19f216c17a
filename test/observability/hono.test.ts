import { honoHarness } from '../adapters.js';
import { runObservability } from './suite.js';

runObservability(honoHarness);
