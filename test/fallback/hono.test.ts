import { honoHarness } from '../adapters.js';
import { runFallbackLimits } from './limits.js';
import { runChatOverSse, runFallback, runPlainClients } from './suite.js';

runFallback(honoHarness);
runPlainClients(honoHarness);
runChatOverSse(honoHarness);
runFallbackLimits(honoHarness);
