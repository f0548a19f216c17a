import { honoHarness } from '../adapters.js';
import { runClients } from './suite.js';

runClients(honoHarness);
