import type { AddressInfo } from 'node:net';
import express from 'express';
import type { NextFunction, Request, Response } from 'express';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { CloseCode, reject, websocket } from '@switchyard/express';
import { RawClient, closed, handshakeRequest, messages, openWs, readResponse } from '../../../test/helpers.js';

const servers: Array<{ close(cb?: () => void): unknown; closeAllConnections?: () => void }> = [];
afterEach(() => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections?.();
    server.close();
  }
});

function listen(app: express.Express): Promise<number> {
  return new Promise((resolve) => {
    const server = app.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
    servers.push(server);
  });
}

describe('express adapter', () => {
  it('works with app.listen() and no extra call; the README usage runs as written', async () => {
    const app = express();
    const tokenOk = (req: { headers: Record<string, unknown> }): boolean => req.headers.authorization === 'Bearer good';
    const requireUser = (req: Request, res: Response, next: NextFunction): void => {
      if (req.headers['x-user'] === 'nobody') {
        res.status(401).json({ error: 'who are you?' });
        return;
      }
      next();
    };
    app.use(
      '/echo',
      websocket({
        protocols: ['chat'],
        open(ws) {
          ws.send('hello');
        },
        message(ws, data) {
          ws.send(data);
        },
      }),
    );
    app.use(
      '/events',
      websocket((ws) => {
        ws.on('message', (data) => ws.send(data));
      }),
    );
    app.use(
      '/private',
      requireUser,
      websocket({
        upgrade(req) {
          if (!tokenOk(req)) throw reject(401, 'Unauthorized', { 'WWW-Authenticate': 'Bearer' });
          return { context: { user: 'ann' } };
        },
        message(ws, data) {
          ws.send(`${ws.context.user}: ${String(data)}`);
        },
      }),
    );
    const port = await listen(app);

    const echo = await openWs(`ws://127.0.0.1:${port}/echo`, ['soap', 'chat']);
    expect(echo.protocol).toBe('chat');
    const echoInbox = messages(echo);
    expect((await echoInbox.next()).data.toString()).toBe('hello');
    echo.send('round trip');
    expect((await echoInbox.next()).data.toString()).toBe('round trip');
    echo.close();

    const events = await openWs(`ws://127.0.0.1:${port}/events`);
    events.send('faye');
    expect((await messages(events).next()).data.toString()).toBe('faye');
    events.close();

    const raw = await RawClient.connect(port);
    raw.write(handshakeRequest('/private', { 'X-User': 'nobody' }));
    const byMiddleware = await readResponse(raw);
    expect([byMiddleware.status, byMiddleware.headers['content-type'], byMiddleware.body]).toEqual([
      401,
      'application/json; charset=utf-8',
      '{"error":"who are you?"}',
    ]);
    raw.destroy();

    const raw2 = await RawClient.connect(port);
    raw2.write(handshakeRequest('/private'));
    const byHook = await readResponse(raw2);
    expect([byHook.status, byHook.headers['www-authenticate'], byHook.body]).toEqual([401, 'Bearer', 'Unauthorized\n']);
    raw2.destroy();

    const ok = await openWs(`ws://127.0.0.1:${port}/private`, undefined, { headers: { authorization: 'Bearer good' } });
    ok.send('hi');
    expect((await messages(ok).next()).data.toString()).toBe('ann: hi');
    ok.close();
  });

  it("next(err) reaches the app's own error handler, whose answer goes out as HTTP", async () => {
    const app = express();
    app.use('/ws', (_req, _res, next) => next(Object.assign(new Error('nope'), { status: 418 })), websocket({}));
    app.use((error: Error & { status: number }, _req: Request, res: Response, _next: NextFunction) => {
      res.status(error.status).set('X-Error', error.message).send(`custom: ${error.message}`);
    });
    const port = await listen(app);
    const raw = await RawClient.connect(port);
    raw.write(handshakeRequest('/ws'));
    const response = await readResponse(raw);
    expect([response.status, response.headers['x-error'], response.body]).toEqual([418, 'nope', 'custom: nope']);
    expect(raw.received.toString('latin1')).not.toContain('101');
    raw.destroy();
  });

  it('works inside an express.Router with params, and sees res.locals as req.state', async () => {
    const app = express();
    const router = express.Router({ mergeParams: true });
    router.use((_req, res, next) => {
      res.locals.user = 'bob';
      next();
    });
    router.get(
      '/rooms/:id',
      websocket({
        heartbeat: false,
        upgrade(req) {
          return { context: { room: req.params.id!, user: String(req.state.user) } };
        },
        open(ws) {
          ws.send(`${ws.context.user} in ${ws.context.room} via ${ws.request.path}`);
        },
      }),
    );
    app.use('/api', router);
    const port = await listen(app);
    const ws = await openWs(`ws://127.0.0.1:${port}/api/rooms/7?x=1`);
    expect((await messages(ws).next()).data.toString()).toBe('bob in 7 via /api/rooms/7');
    ws.close();
  });

  it('middleware.close() closes only its own endpoint with 1001', async () => {
    const app = express();
    const a = websocket({ heartbeat: false });
    const b = websocket({ heartbeat: false });
    app.use('/a', a);
    app.use('/b', b);
    const port = await listen(app);
    const ca = await openWs(`ws://127.0.0.1:${port}/a`);
    const cb = await openWs(`ws://127.0.0.1:${port}/b`);
    const aClosed = closed(ca);
    expect(a.endpoint.connections.size).toBe(1);
    await a.close();
    expect((await aClosed).code).toBe(CloseCode.GOING_AWAY);
    expect(a.endpoint.connections.size).toBe(0);
    expect(cb.readyState).toBe(WebSocket.OPEN);
    expect(b.endpoint.connections.size).toBe(1);
    cb.close();
  });
});

describe('express adapter: the upgrade request', () => {
  it("reaches Express, from the server's second upgrade on, with Express's per-request properties already on it", async () => {
    interface Seen {
      upgrade: boolean;
      baseUrl: unknown;
      originalUrl: unknown;
      params: unknown;
      locals: unknown;
      shapedFirst: boolean;
    }
    const seen: Seen[] = [];
    const app = express();
    app.use((req: Request, res: Response, next: NextFunction) => {
      const keys = Object.keys(req);
      seen.push({
        upgrade: req.headers.upgrade === 'websocket',
        baseUrl: req.baseUrl,
        originalUrl: req.originalUrl,
        params: req.params,
        locals: res.locals,
        // Whether Express's per-request properties were on the request before Express's own `req.res`.
        shapedFirst: keys.includes('route') && keys.indexOf('route') < keys.indexOf('res'),
      });
      next();
    });
    app.use(
      '/room/:name',
      websocket({
        message(ws, data) {
          ws.send(data);
        },
      }),
    );
    app.use((_req: Request, res: Response) => {
      res.end('page');
    });
    const port = await listen(app);
    for (const path of ['/room/a%20b?x=%00', '/room/c?y=1', '/room/d']) {
      const ws = await openWs(`ws://127.0.0.1:${port}${path}`);
      const inbox = messages(ws);
      ws.send(path);
      expect((await inbox.next()).data.toString()).toBe(path);
      ws.close();
      await closed(ws);
    }
    expect(await (await fetch(`http://127.0.0.1:${port}/room/e`)).text()).toBe('page');
    const base = { baseUrl: '', params: {}, locals: {} };
    expect(seen).toEqual([
      // The first upgrade of a server is how the middleware learns of the server.
      { ...base, upgrade: true, originalUrl: '/room/a%20b?x=%00', shapedFirst: false },
      { ...base, upgrade: true, originalUrl: '/room/c?y=1', shapedFirst: true },
      { ...base, upgrade: true, originalUrl: '/room/d', shapedFirst: true },
      { ...base, upgrade: false, originalUrl: '/room/e', shapedFirst: false },
    ]);
  });
});
