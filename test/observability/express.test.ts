import { expressHarness } from '../../packages/express/test/harness.js';
import { runObservability } from './suite.js';

runObservability(expressHarness);
