import { honoHarness } from '../adapters.js';
import { runMessages } from './suite.js';

runMessages(honoHarness);
