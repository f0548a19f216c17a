import { koaHarness } from '../../packages/koa/test/harness.js';
import { runAdmission } from './suite.js';

runAdmission(koaHarness);
