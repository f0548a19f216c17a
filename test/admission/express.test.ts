import { expressHarness } from '../adapters.js';
import { runAdmission } from './suite.js';

runAdmission(expressHarness);
