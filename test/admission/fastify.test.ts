import { fastifyHarness } from '../adapters.js';
import { runAdmission } from './suite.js';

runAdmission(fastifyHarness);
