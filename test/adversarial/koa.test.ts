import { koaHarness } from '../adapters.js';
import { runAdversarial } from './suite.js';

runAdversarial(koaHarness);
