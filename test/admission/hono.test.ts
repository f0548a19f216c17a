import { honoHarness } from '../adapters.js';
import { runAdmission } from './suite.js';

runAdmission(honoHarness);
