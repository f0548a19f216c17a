import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import Koa from 'koa';
import Router from '@koa/router';
import { afterEach, describe, expect, expectTypeOf, it, vi } from 'vitest';
import WebSocket from 'ws';
import { CloseCode, reject, shutdown, websocket } from '@switchyard/koa';
import type {
  CloseEvent,
  Connection,
  KoaUpgradeContext,
  RequestInfo,
  UpgradeRequest,
  WebSocketMiddleware,
} from '@switchyard/koa';
import {
  Opcode,
  RawClient,
  captureWarnings,
  closed,
  frame,
  handshakeRequest,
  messages,
  openWs,
  quietFor,
  readResponse,
} from '../../../test/helpers.js';

const servers: Server[] = [];
const clients: Array<WebSocket | RawClient> = [];
afterEach(() => {
  for (const client of clients.splice(0)) {
    if (client instanceof RawClient) client.destroy();
    else client.terminate();
  }
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    server.close();
  }
  vi.restoreAllMocks();
});

const track = <T extends WebSocket | RawClient>(client: T): T => {
  clients.push(client);
  return client;
};

/** `app.listen()` exactly as a Koa user calls it: no server of our own, no extra call. */
function listen(app: Koa): Promise<{ server: Server; port: number }> {
  return new Promise((resolve) => {
    const server = app.listen(0, '127.0.0.1', () => resolve({ server, port: (server.address() as AddressInfo).port }));
    servers.push(server);
  });
}

async function rawHandshake(port: number, path: string, headers?: Record<string, string | null>): Promise<RawClient> {
  const raw = track(await RawClient.connect(port));
  raw.write(handshakeRequest(path, headers));
  return raw;
}

describe('koa adapter', () => {
  it("works with app.listen() and no extra call; the issue's usage runs as written", async () => {
    const app = new Koa();
    const router = new Router();
    app.use(async (ctx, next) => {
      if (ctx.get('authorization') !== 'Bearer good') ctx.throw(401);
      ctx.state.user = 'ann';
      await next();
    });
    const chat = websocket({
      heartbeat: false,
      protocols: ['chat'],
      upgrade(req) {
        return { context: { user: String(req.state.user) } };
      },
      message(ws, data) {
        ws.send(`${ws.context.user}: ${String(data)}`);
      },
    });
    router.get('/chat', chat);
    app.use(router.routes());
    const { port } = await listen(app);

    for (let round = 0; round < 2; round++) {
      const ws = track(
        await openWs(`ws://127.0.0.1:${port}/chat`, ['chat'], { headers: { authorization: 'Bearer good' } }),
      );
      expect(ws.protocol).toBe('chat');
      const inbox = messages(ws);
      ws.send(`hi ${round}`);
      expect((await inbox.next()).data.toString()).toBe(`ann: hi ${round}`);
    }
    expect(chat.endpoint.connections.size).toBe(2);
    await expect(openWs(`ws://127.0.0.1:${port}/chat`, ['chat'])).rejects.toThrow(/401/);
  });

  it('ctx.throw(401) with WWW-Authenticate from an auth middleware goes out as HTTP, and no 101', async () => {
    const app = new Koa();
    const errors: Array<[number, string]> = [];
    app.on('error', (error: Error & { status: number }, ctx: Koa.Context) =>
      errors.push([error.status, ctx.originalUrl]),
    );
    app.use(async (ctx, next) => {
      if (!ctx.get('authorization'))
        ctx.throw(401, 'who are you?', { headers: { 'WWW-Authenticate': 'Bearer realm="chat"' } });
      await next();
    });
    const opened = vi.fn();
    app.use(websocket({ open: opened }));
    const { port } = await listen(app);

    // The first request reaches Koa from Node's 'request' event, the second through 'upgrade'.
    for (let round = 0; round < 2; round++) {
      const raw = await rawHandshake(port, `/chat?round=${round}`);
      const response = await readResponse(raw);
      expect([
        response.status,
        response.headers['www-authenticate'],
        response.headers['content-type'],
        response.body,
      ]).toEqual([401, 'Bearer realm="chat"', 'text/plain; charset=utf-8', 'who are you?']);
      expect(raw.received.toString('latin1')).not.toContain(' 101 ');
      await raw.waitClosed();
    }
    expect(errors).toEqual([
      [401, '/chat?round=0'],
      [401, '/chat?round=1'],
    ]);
    expect(opened).not.toHaveBeenCalled();
  });

  it('ctx.status = 403 with a body goes out as HTTP with its headers', async () => {
    const app = new Koa();
    app.use(async (ctx, next) => {
      if (ctx.query.user === 'mallory') {
        ctx.status = 403;
        ctx.set('X-Reason', 'banned');
        ctx.body = { error: 'banned' };
        return;
      }
      await next();
    });
    app.use(websocket({ heartbeat: false }));
    const { port } = await listen(app);
    for (let round = 0; round < 2; round++) {
      const raw = await rawHandshake(port, '/chat?user=mallory');
      const response = await readResponse(raw);
      expect([response.status, response.headers['x-reason'], response.headers['content-type'], response.body]).toEqual([
        403,
        'banned',
        'application/json; charset=utf-8',
        '{"error":"banned"}',
      ]);
      expect(raw.received.toString('latin1')).not.toContain(' 101 ');
    }
    track(await openWs(`ws://127.0.0.1:${port}/chat?user=ann`));
  });

  it("an upstream error-handling middleware answers a downstream throw with the app's own HTTP response", async () => {
    const app = new Koa();
    app.use(async (ctx, next) => {
      try {
        await next();
      } catch (error) {
        ctx.status = 418;
        ctx.set('X-Error', (error as Error).message);
        ctx.body = `custom: ${(error as Error).message}`;
      }
    });
    app.use(async (ctx, next) => {
      if (ctx.path === '/broken') throw new Error('nope');
      await next();
    });
    app.use(websocket({ heartbeat: false }));
    const { port } = await listen(app);
    const raw = await rawHandshake(port, '/broken');
    const response = await readResponse(raw);
    expect([response.status, response.headers['x-error'], response.body]).toEqual([418, 'nope', 'custom: nope']);
    expect(raw.received.toString('latin1')).not.toContain('101');
    track(await openWs(`ws://127.0.0.1:${port}/fine`));
  });

  it('what middleware put on ctx.state reaches the upgrade hook as req.state, and thus ws.context', async () => {
    const app = new Koa();
    app.use(async (ctx, next) => {
      ctx.state.user = { name: 'bob', admin: false };
      await next();
    });
    let state: Record<string, unknown> | undefined;
    app.use(
      websocket({
        heartbeat: false,
        upgrade(req) {
          state = req.state;
          return { context: req.state.user as { name: string; admin: boolean } };
        },
        open(ws) {
          ws.send(`${ws.context.name} admin=${String(ws.context.admin)}`);
        },
      }),
    );
    const { port } = await listen(app);
    const ws = track(await openWs(`ws://127.0.0.1:${port}/`));
    expect((await messages(ws).next()).data.toString()).toBe('bob admin=false');
    expect(state).toEqual({ user: { name: 'bob', admin: false } });
  });

  it('@koa/router params reach req.params, under a prefix, with the original URL', async () => {
    const app = new Koa();
    const router = new Router({ prefix: '/api' });
    router.get(
      '/rooms/:id',
      websocket({
        heartbeat: false,
        upgrade(req) {
          return { context: { room: req.params.id!, params: req.params } };
        },
        open(ws) {
          ws.send(
            JSON.stringify({
              room: ws.context.room,
              params: ws.context.params,
              path: ws.request.path,
              url: ws.request.url,
            }),
          );
        },
      }),
    );
    app.use(router.routes());
    const { port } = await listen(app);
    const ws = track(await openWs(`ws://127.0.0.1:${port}/api/rooms/42?x=1`));
    expect(JSON.parse((await messages(ws).next()).data.toString())).toEqual({
      room: '42',
      params: { id: '42' },
      path: '/api/rooms/42',
      url: '/api/rooms/42?x=1',
    });
    const raw = await rawHandshake(port, '/api/lobby');
    expect((await raw.response()).status).toBe(404);
  });

  it('a mount that rewrites ctx.path, as koa-mount does, still gives handlers the URL the client sent', async () => {
    const app = new Koa();
    const inner = websocket({
      heartbeat: false,
      open(ws) {
        ws.send(ws.request.url);
      },
    });
    app.use(async (ctx, next) => {
      if (!ctx.path.startsWith('/v1/')) return next();
      const original = ctx.path;
      ctx.path = ctx.path.slice('/v1'.length);
      try {
        await inner(ctx, next);
      } finally {
        ctx.path = original;
      }
    });
    const { port } = await listen(app);
    const ws = track(await openWs(`ws://127.0.0.1:${port}/v1/chat?room=a`));
    expect((await messages(ws).next()).data.toString()).toBe('/v1/chat?room=a');
  });

  it('app.use(websocket()) handles upgrades on any path; plain requests fall through to the next middleware', async () => {
    const app = new Koa();
    const paths: string[] = [];
    app.use(
      websocket(
        (ws, req) => {
          paths.push(req.url);
          ws.send(req.path);
        },
        { heartbeat: false },
      ),
    );
    const downstream: string[] = [];
    app.use((ctx) => {
      downstream.push(`${ctx.get('upgrade') || 'plain'} ${ctx.path}`);
      ctx.body = `page ${ctx.path}`;
    });
    const { port } = await listen(app);

    for (const path of ['/', '/chat', '/a/b/c?x=1']) {
      const ws = track(await openWs(`ws://127.0.0.1:${port}${path}`));
      expect((await messages(ws).next()).data.toString()).toBe(path.split('?')[0]);
    }
    expect(paths).toEqual(['/', '/chat', '/a/b/c?x=1']);
    for (const path of ['/', '/chat']) {
      const response = await fetch(`http://127.0.0.1:${port}${path}`);
      expect([response.status, await response.text()]).toEqual([200, `page ${path}`]);
    }
    // An upgrade ends the chain at websocket(): nothing after it sees the request.
    expect(downstream).toEqual(['plain /', 'plain /chat']);
  });

  it('after the hijack Koa writes nothing: one HTTP head, no stray byte, no late-write warning', async () => {
    const capture = captureWarnings('SWITCHYARD_LATE_WRITE');
    const events: string[] = [];
    try {
      const app = new Koa();
      app.use(async (ctx, next) => {
        await next();
        // Upstream resumes after the 101, sees that Koa must not respond, and sets a body that
        // Koa's respond() would otherwise have written into the WebSocket.
        events.push(`upstream resumed, respond=${String(ctx.respond)}`);
        ctx.body = 'too late';
      });
      app.use(
        websocket({
          heartbeat: false,
          upgrade() {
            events.push('upgrade');
          },
          message(ws, data) {
            ws.send(data);
          },
        }),
      );
      const { port } = await listen(app);
      const raws: RawClient[] = [];
      for (let round = 0; round < 2; round++) {
        const raw = await rawHandshake(port, '/echo');
        expect((await raw.response()).status).toBe(101);
        raws.push(raw);
      }
      await vi.waitFor(() => expect(events.filter((e) => e.startsWith('upstream resumed'))).toHaveLength(2));
      for (const [i, raw] of raws.entries()) {
        raw.write(frame(Opcode.TEXT, `echo ${i}`));
        await raw.until(() => raw.frames().length >= 1);
        // Nothing of the resumed upstream's answer may follow the echo.
        await quietFor(50);
        const text = raw.received.toString('latin1');
        expect(text.match(/HTTP\/1\.1/g)).toHaveLength(1);
        expect(text).not.toContain('too late');
        expect(text).not.toContain('Not Found');
        expect(raw.frames().map((f) => [f.opcode, f.payload.toString()])).toEqual([[Opcode.TEXT, `echo ${i}`]]);
      }
      expect(events).toEqual([
        'upgrade',
        'upstream resumed, respond=false',
        'upgrade',
        'upstream resumed, respond=false',
      ]);
      expect(capture.warnings).toEqual([]);
    } finally {
      capture.stop();
    }
  });

  it('a handshake rejected by core is its only answer: Koa tries to add no 404 after it', async () => {
    const capture = captureWarnings('SWITCHYARD_LATE_WRITE');
    try {
      const app = new Koa();
      app.use(websocket({ upgrade: () => reject(403, 'Not in this room') }));
      const { port } = await listen(app);
      for (let round = 0; round < 2; round++) {
        const raw = await rawHandshake(port, '/room');
        const response = await readResponse(raw);
        expect([response.status, response.body]).toEqual([403, 'Not in this room\n']);
        await raw.waitClosed();
        expect(raw.received.toString('latin1').match(/HTTP\/1\.1/g)).toHaveLength(1);
      }
      expect(capture.warnings).toEqual([]);
    } finally {
      capture.stop();
    }
  });

  it('middleware.close() closes only its own endpoint; shutdown(server) closes the rest with 1001', async () => {
    const app = new Koa();
    const router = new Router();
    const a = websocket({ heartbeat: false });
    const b = websocket({ heartbeat: false });
    router.get('/a', a);
    router.get('/b', b);
    app.use(router.routes());
    const { server, port } = await listen(app);
    const ca = track(await openWs(`ws://127.0.0.1:${port}/a`));
    const cb = track(await openWs(`ws://127.0.0.1:${port}/b`));
    const aClosed = closed(ca);
    await a.close();
    expect((await aClosed).code).toBe(CloseCode.GOING_AWAY);
    expect(a.endpoint.connections.size).toBe(0);
    expect(cb.readyState).toBe(WebSocket.OPEN);
    const bClosed = closed(cb);
    await shutdown(server);
    expect((await bClosed).code).toBe(CloseCode.GOING_AWAY);
    const raw = await rawHandshake(port, '/b');
    expect((await readResponse(raw)).status).toBe(503);
  });

  // Koa's handleRequest watches the response with on-finished, which puts 'error'/'close'
  // listeners on the socket; core removes them when the socket becomes a WebSocket. Otherwise a client
  // that resets an open connection then reaches the app's 'error' event as an error of the
  // upgrade request, and Koa would try to write a 500 into it.
  it("a client that resets an open WebSocket is no error of the upgrade request for Koa's 'error' event", async () => {
    const app = new Koa();
    const errors: string[] = [];
    app.on('error', (error: NodeJS.ErrnoException) => errors.push(error.code ?? error.message));
    const capture = captureWarnings('SWITCHYARD_LATE_WRITE');
    const closes: number[] = [];
    app.use(
      websocket({
        heartbeat: false,
        close(_ws, event) {
          closes.push(event.code);
        },
      }),
    );
    try {
      const { port } = await listen(app);
      for (let round = 0; round < 2; round++) {
        const raw = await rawHandshake(port, '/echo');
        expect((await raw.response()).status).toBe(101);
        raw.socket.resetAndDestroy();
        await vi.waitFor(() => expect(closes).toHaveLength(round + 1));
      }
      // No 'error' event and no late-write warning may follow the resets.
      await quietFor(50);
      expect(closes).toEqual([CloseCode.ABNORMAL, CloseCode.ABNORMAL]);
      expect(errors).toEqual([]);
      expect(capture.warnings).toEqual([]);
    } finally {
      capture.stop();
    }
  });
});

// These checks run at compile time (`pnpm typecheck`); the bodies only build middleware.
describe('koa adapter: public types', () => {
  it('types ws.context from what upgrade returns, with no cast', () => {
    const mw = websocket({
      async upgrade(req) {
        expectTypeOf(req).toEqualTypeOf<UpgradeRequest>();
        expectTypeOf(req.params).toEqualTypeOf<Record<string, string>>();
        expectTypeOf(req.state).toEqualTypeOf<Record<string, unknown>>();
        await Promise.resolve();
        if (!req.headers.authorization) throw reject(401);
        return { context: { user: 'ann', room: 7 } };
      },
      message(ws, data, isBinary) {
        expectTypeOf(ws).toEqualTypeOf<Connection<{ user: string; room: number }>>();
        expectTypeOf(ws.context.user).toBeString();
        expectTypeOf(data).toEqualTypeOf<string | Buffer>();
        expectTypeOf(isBinary).toBeBoolean();
        // @ts-expect-error: not part of the context
        void ws.context.missing;
      },
      close(ws, event) {
        expectTypeOf(event).toEqualTypeOf<CloseEvent>();
        expectTypeOf(ws.context.room).toBeNumber();
      },
    });
    expectTypeOf(mw).toEqualTypeOf<WebSocketMiddleware<{ user: string; room: number }>>();
    expectTypeOf(mw.endpoint.connections).toEqualTypeOf<Set<Connection<{ user: string; room: number }>>>();
    expectTypeOf(mw.close).returns.toEqualTypeOf<Promise<void>>();
  });

  it('without an upgrade hook the context is undefined; the faye style gets a RequestInfo', () => {
    websocket({
      message(ws) {
        expectTypeOf(ws.context).toEqualTypeOf<undefined>();
      },
    });
    const faye = websocket((ws, req) => {
      expectTypeOf(ws).toEqualTypeOf<Connection<undefined>>();
      expectTypeOf(req).toEqualTypeOf<RequestInfo>();
    });
    expectTypeOf(faye).toEqualTypeOf<WebSocketMiddleware<undefined>>();
  });

  it('fits app.use() and router.get() whatever the app declares for its state and context', () => {
    interface State {
      user: { name: string };
    }
    interface Custom {
      requestId: string;
    }
    const app = new Koa<State, Custom>();
    const router = new Router<State, Custom>();
    const mw = websocket({ upgrade: (req) => ({ context: req.state.user as State['user'] }) });
    app.use(mw);
    router.get('/rooms/:id', mw);
    new Koa().use(mw);
    expectTypeOf(mw).toExtend<Koa.Middleware<State, Custom>>();
    expectTypeOf<Koa.ParameterizedContext<State, Custom & Router.RouterParamContext>>().toExtend<KoaUpgradeContext>();
    // Never called: only the compiler looks at it.
    const misuse = (): unknown => {
      // @ts-expect-error: not a Koa context
      return mw({ req: {} }, async () => {});
    };
    void misuse;
  });
});
