import { nestjsFastifyHarness } from '../adapters.js';
import { runAdmission } from './suite.js';

runAdmission(nestjsFastifyHarness);
