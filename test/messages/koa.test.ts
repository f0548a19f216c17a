import { koaHarness } from '../adapters.js';
import { runMessages } from './suite.js';

runMessages(koaHarness);
