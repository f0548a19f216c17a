import { nestjsHarness } from '../adapters.js';
import { runFallbackLimits } from './limits.js';
import { runChatOverSse, runFallback, runPlainClients } from './suite.js';

runFallback(nestjsHarness);
runPlainClients(nestjsHarness);
runChatOverSse(nestjsHarness);
runFallbackLimits(nestjsHarness);
