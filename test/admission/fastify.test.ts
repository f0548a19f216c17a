import { fastifyHarness } from '../../packages/fastify/test/harness.js';
import { runAdmission } from './suite.js';

runAdmission(fastifyHarness);
