import { runRfc6455 } from './rfc6455.js';
import { expressHarness } from '../packages/express/test/harness.js';
import { fastifyHarness } from '../packages/fastify/test/harness.js';
import { koaHarness } from '../packages/koa/test/harness.js';

runRfc6455(expressHarness);
runRfc6455(koaHarness);
runRfc6455(fastifyHarness);
