import { fastifyHarness } from '../adapters.js';
import { runClients } from './suite.js';

runClients(fastifyHarness);
