import { fastifyHarness } from '../adapters.js';
import { runFallbackLimits } from './limits.js';
import { runChatOverSse, runFallback, runPlainClients } from './suite.js';

runFallback(fastifyHarness);
runPlainClients(fastifyHarness);
runChatOverSse(fastifyHarness);
runFallbackLimits(fastifyHarness);
