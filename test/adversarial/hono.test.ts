import { honoHarness } from '../adapters.js';
import { runAdversarial } from './suite.js';

runAdversarial(honoHarness);
