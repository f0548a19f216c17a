import { runFallbackLimits } from './fallback-limits.js';
import { runChatOverSse, runFallback, runPlainClients } from './fallback.js';
import { fastifyHarness } from '../packages/fastify/test/harness.js';

runFallback(fastifyHarness);
runPlainClients(fastifyHarness);
runChatOverSse(fastifyHarness);
runFallbackLimits(fastifyHarness);
