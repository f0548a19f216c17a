import { expressHarness } from '../adapters.js';
import { runMessages } from './suite.js';

runMessages(expressHarness);
