import { runFallbackLimits } from './fallback-limits.js';
import { runChatOverSse, runFallback, runPlainClients } from './fallback.js';
import { expressHarness } from '../packages/express/test/harness.js';

runFallback(expressHarness);
runPlainClients(expressHarness);
runChatOverSse(expressHarness);
runFallbackLimits(expressHarness);
