// The heartbeat over the SSE fallback on Hono (suite.ts).
import { honoHarness } from '../adapters.js';
import { runFallbackHeartbeat } from './suite.js';

runFallbackHeartbeat(honoHarness);
