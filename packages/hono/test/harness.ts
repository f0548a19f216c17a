import http from 'node:http';
import https from 'node:https';
import { getRequestListener } from '@hono/node-server';
import { Hono } from 'hono';
import type { MiddlewareHandler } from 'hono';
import { routeUpgrades, shutdown, websocket } from '@switchyard/hono';
import type { Harness, Mount } from '../../../test/harness.js';
import { delay } from '../../../test/helpers.js';

function guardMiddleware(guard: NonNullable<Mount['guard']>): MiddlewareHandler {
  return async (c, next) => {
    const result = await guard({ url: c.env.incoming.url, headers: c.env.incoming.headers });
    // Thrown, so that Hono's own error handling answers (500, and app.onError).
    if (result instanceof Error) throw result;
    if (result) return c.text(result.body, result.status as 400, result.headers);
    await next();
    return undefined;
  };
}

function lateWriteMiddleware({ kind, ms }: NonNullable<Mount['lateWrite']>): MiddlewareHandler {
  return async (c, next) => {
    await next();
    await delay(ms);
    // A raw write, as a timeout middleware would do on Node's response.
    if (kind === 'send') c.env.outgoing.writeHead(503, { 'Content-Type': 'text/plain' }).end('late');
    else throw new Error('late failure');
  };
}

/** Builds a Hono app from the suite's mounts: app.all(), so that POST handshakes reach core for its 405. */
export function buildApp(mounts: Mount[], trustProxy = false): Hono {
  const app = new Hono();
  for (const mount of mounts) {
    const chain: MiddlewareHandler[] = [];
    if (mount.user) {
      const user = mount.user;
      chain.push(async (c, next) => {
        c.set('user' as never, user as never);
        await next();
      });
    }
    if (mount.guard) chain.push(guardMiddleware(mount.guard));
    if (mount.lateWrite) chain.push(lateWriteMiddleware(mount.lateWrite));
    chain.push(websocket(mount.handlers as Parameters<typeof websocket>[0], { trustProxy }));
    // One registration per handler: Hono runs the handlers of one path in the order they were added.
    for (const handler of chain) app.all(mount.path, handler);
    if (mount.page !== undefined) {
      const page = mount.page;
      app.get(mount.path, (c) => c.html(page));
    }
  }
  return app;
}

export const honoHarness: Harness = {
  name: 'hono',
  async createServer(mounts, options = {}) {
    const listener = getRequestListener(buildApp(mounts, options.trustProxy === true).fetch);
    return options.https
      ? https.createServer({ ...options.server, ...options.https }, listener)
      : http.createServer(options.server ?? {}, listener);
  },
  shutdown: (server) => shutdown(server),
  coexist: (server) => routeUpgrades(server),
};
