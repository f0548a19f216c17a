import { fastifyHarness } from '../../packages/fastify/test/harness.js';
import { runObservability } from './suite.js';

runObservability(fastifyHarness);
