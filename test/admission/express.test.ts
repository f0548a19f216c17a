import { expressHarness } from '../../packages/express/test/harness.js';
import { runAdmission } from './suite.js';

runAdmission(expressHarness);
