import './setup.js';
import { koaHarness } from '../../packages/koa/test/harness.js';
import { runOtel } from './suite.js';

runOtel(koaHarness);
