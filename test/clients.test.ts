import { runClients } from './clients.js';
import { expressHarness } from '../packages/express/test/harness.js';
import { fastifyHarness } from '../packages/fastify/test/harness.js';
import { koaHarness } from '../packages/koa/test/harness.js';

runClients(expressHarness);
runClients(koaHarness);
runClients(fastifyHarness);
