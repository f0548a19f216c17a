import { fastifyHarness } from '../adapters.js';
import { runMessages } from './suite.js';

runMessages(fastifyHarness);
