import { expressHarness } from '../adapters.js';
import { runAdversarial } from './suite.js';

runAdversarial(expressHarness);
