// The heartbeat over the SSE fallback on Fastify (suite.ts).
import { fastifyHarness } from '../adapters.js';
import { runFallbackHeartbeat } from './suite.js';

runFallbackHeartbeat(fastifyHarness);
