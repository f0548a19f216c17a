import { fastifyHarness } from '../adapters.js';
import { runConformance } from './suite.js';

runConformance(fastifyHarness);
