import { expressHarness } from '../adapters.js';
import { runClients } from './suite.js';

runClients(expressHarness);
