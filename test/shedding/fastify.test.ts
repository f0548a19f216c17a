import { fastifyHarness } from '../adapters.js';
import { runShedding } from './suite.js';

runShedding(fastifyHarness);
