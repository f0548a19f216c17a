import { koaHarness } from '../adapters.js';
import { runClients } from './suite.js';

runClients(koaHarness);
