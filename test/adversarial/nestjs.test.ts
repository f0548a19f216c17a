import { nestjsHarness } from '../adapters.js';
import { runAdversarial } from './suite.js';

runAdversarial(nestjsHarness);
