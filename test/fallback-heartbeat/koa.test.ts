// The heartbeat over the SSE fallback on Koa (suite.ts).
import { koaHarness } from '../adapters.js';
import { runFallbackHeartbeat } from './suite.js';

runFallbackHeartbeat(koaHarness);
