import { koaHarness } from '../adapters.js';
import { runAdmission } from './suite.js';

runAdmission(koaHarness);
