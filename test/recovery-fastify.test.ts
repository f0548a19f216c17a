import { runRecoverySuite } from './recovery.js';

runRecoverySuite('fastify');
