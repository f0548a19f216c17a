// The heartbeat over the SSE fallback on NestJS (suite.ts).
import { nestjsHarness } from '../adapters.js';
import { runFallbackHeartbeat } from './suite.js';

runFallbackHeartbeat(nestjsHarness);
