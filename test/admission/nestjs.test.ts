import { nestjsHarness } from '../adapters.js';
import { runAdmission } from './suite.js';

runAdmission(nestjsHarness);
