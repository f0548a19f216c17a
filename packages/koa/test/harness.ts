import http from 'node:http';
import https from 'node:https';
import Koa from 'koa';
import Router from '@koa/router';
import { routeUpgrades, shutdown, websocket } from '@switchyard/koa';
import type { Harness, Mount } from '../../../test/harness.js';
import { delay } from '../../../test/helpers.js';

function guardMiddleware(guard: NonNullable<Mount['guard']>): Koa.Middleware {
  return async (ctx, next) => {
    const result = await guard({ url: ctx.originalUrl, headers: ctx.headers });
    // Thrown, so that Koa's own error handling answers (500, and the app's 'error' event).
    if (result instanceof Error) throw result;
    if (result) {
      ctx.status = result.status;
      ctx.set(result.headers ?? {});
      ctx.type = 'text/plain';
      ctx.body = result.body;
      return;
    }
    await next();
  };
}

function lateWriteMiddleware({ kind, ms }: NonNullable<Mount['lateWrite']>): Koa.Middleware {
  return async (ctx, next) => {
    await next();
    await delay(ms);
    // A raw write, as a timeout middleware would do: ctx.body no longer reaches respond().
    if (kind === 'send') ctx.res.writeHead(503, { 'Content-Type': 'text/plain' }).end('late');
    else throw new Error('late failure');
  };
}

/** Builds a Koa app from the suite's mounts: @koa/router routes, so that `:param` paths work. */
export function buildApp(mounts: Mount[]): Koa {
  const app = new Koa();
  const router = new Router();
  for (const mount of mounts) {
    const chain: Koa.Middleware[] = [];
    if (mount.user) {
      const user = mount.user;
      chain.push(async (ctx, next) => {
        ctx.state.user = user;
        await next();
      });
    }
    if (mount.guard) chain.push(guardMiddleware(mount.guard));
    if (mount.lateWrite) chain.push(lateWriteMiddleware(mount.lateWrite));
    // all(), like Express's app.use(path): a POST handshake must reach core for its 405.
    router.all(mount.path, ...chain, websocket(mount.handlers as Parameters<typeof websocket>[0]));
    if (mount.page !== undefined) {
      const page = mount.page;
      router.get(mount.path, (ctx) => {
        ctx.body = page;
      });
    }
  }
  app.use(router.routes());
  return app;
}

export const koaHarness: Harness = {
  name: 'koa',
  async createServer(mounts, options = {}) {
    const app = buildApp(mounts);
    app.proxy = options.trustProxy === true;
    return options.https
      ? https.createServer({ ...options.server, ...options.https }, app.callback())
      : http.createServer(options.server ?? {}, app.callback());
  },
  shutdown: (server) => shutdown(server),
  coexist: (server) => routeUpgrades(server),
};
