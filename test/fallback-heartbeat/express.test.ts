// The heartbeat over the SSE fallback on Express (suite.ts).
import { expressHarness } from '../adapters.js';
import { runFallbackHeartbeat } from './suite.js';

runFallbackHeartbeat(expressHarness);
