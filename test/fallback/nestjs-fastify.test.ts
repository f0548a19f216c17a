import { nestjsFastifyHarness } from '../adapters.js';
import { runFallbackLimits } from './limits.js';
import { runChatOverSse, runFallback, runPlainClients } from './suite.js';

runFallback(nestjsFastifyHarness);
runPlainClients(nestjsFastifyHarness);
runChatOverSse(nestjsFastifyHarness);
runFallbackLimits(nestjsFastifyHarness);
