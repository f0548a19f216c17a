import { koaHarness } from '../adapters.js';
import { runObservability } from './suite.js';

runObservability(koaHarness);
