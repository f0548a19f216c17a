import { nestjsFastifyHarness } from '../adapters.js';
import { runAdversarial } from './suite.js';

runAdversarial(nestjsFastifyHarness);
