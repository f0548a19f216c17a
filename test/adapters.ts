/**
 * The adapters every shared suite runs against. A suite is a function of one `Harness`; each
 * suite's folder holds one file of a few lines per adapter (`test/<suite>/<adapter>.test.ts`), so
 * that a run can name one adapter and vitest spreads the adapters over its workers.
 */
export { expressHarness } from '../packages/express/test/harness.js';
export { fastifyHarness } from '../packages/fastify/test/harness.js';
export { koaHarness } from '../packages/koa/test/harness.js';
export { nestjsFastifyHarness, nestjsHarness } from '../packages/nestjs/test/harness.js';
export { honoHarness } from '../packages/hono/test/harness.js';
