import http from 'node:http';
import https from 'node:https';
import express from 'express';
import type { NextFunction, Request, Response } from 'express';
import { routeUpgrades, shutdown, websocket } from '@switchyard/express';
import type { Harness, Mount } from '../../../test/harness.js';

function guardMiddleware(guard: NonNullable<Mount['guard']>) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const apply = (result: Awaited<ReturnType<typeof guard>>): void => {
      if (result instanceof Error) {
        next(result);
        return;
      }
      if (result) {
        res
          .status(result.status)
          .set(result.headers ?? {})
          .type('text/plain')
          .send(result.body);
        return;
      }
      next();
    };
    const result = guard({ url: req.originalUrl, headers: req.headers });
    if (result instanceof Promise) result.then(apply, next);
    else apply(result);
  };
}

/** Builds an Express app from the suite's mounts. */
export function buildApp(mounts: Mount[]): express.Express {
  const app = express();
  for (const mount of mounts) {
    const chain: express.RequestHandler[] = [];
    if (mount.user)
      chain.push((_req, res, next) => {
        res.locals.user = mount.user;
        next();
      });
    if (mount.guard) chain.push(guardMiddleware(mount.guard));
    if (mount.lateWrite) {
      const { kind, ms } = mount.lateWrite;
      chain.push((_req, res, next) => {
        next();
        setTimeout(() => (kind === 'send' ? res.status(503).send('late') : next(new Error('late failure'))), ms);
      });
    }
    app.use(mount.path, ...chain, websocket(mount.handlers as Parameters<typeof websocket>[0]));
    if (mount.page !== undefined) {
      const page = mount.page;
      app.get(mount.path, (_req, res) => {
        res.send(page);
      });
    }
  }
  return app;
}

export const expressHarness: Harness = {
  name: 'express',
  async createServer(mounts, options = {}) {
    const app = buildApp(mounts);
    if (options.trustProxy) app.set('trust proxy', true);
    return options.https
      ? https.createServer({ ...options.server, ...options.https }, app)
      : http.createServer(options.server ?? {}, app);
  },
  shutdown: (server) => shutdown(server),
  coexist: (server) => routeUpgrades(server),
};
