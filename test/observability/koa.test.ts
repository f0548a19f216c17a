import { koaHarness } from '../../packages/koa/test/harness.js';
import { runObservability } from './suite.js';

runObservability(koaHarness);
