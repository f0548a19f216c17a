import './setup.js';
import { fastifyHarness } from '../../packages/fastify/test/harness.js';
import { runOtel } from './suite.js';

runOtel(fastifyHarness);
