import { runFallbackLimits } from './fallback-limits.js';
import { runChatOverSse, runFallback, runPlainClients } from './fallback.js';
import { koaHarness } from '../packages/koa/test/harness.js';

runFallback(koaHarness);
runPlainClients(koaHarness);
runChatOverSse(koaHarness);
runFallbackLimits(koaHarness);
