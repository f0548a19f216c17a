import { koaHarness } from '../adapters.js';
import { runFallbackLimits } from './limits.js';
import { runChatOverSse, runFallback, runPlainClients } from './suite.js';

runFallback(koaHarness);
runPlainClients(koaHarness);
runChatOverSse(koaHarness);
runFallbackLimits(koaHarness);
