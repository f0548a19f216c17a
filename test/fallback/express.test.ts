import { expressHarness } from '../adapters.js';
import { runFallbackLimits } from './limits.js';
import { runChatOverSse, runFallback, runPlainClients } from './suite.js';

runFallback(expressHarness);
runPlainClients(expressHarness);
runChatOverSse(expressHarness);
runFallbackLimits(expressHarness);
