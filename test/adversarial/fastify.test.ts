import { runAdversarial } from './suite.js';

runAdversarial('fastify');
