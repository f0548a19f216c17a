import type { AddressInfo } from 'node:net';
import Fastify from 'fastify';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { afterEach, describe, expect, expectTypeOf, it } from 'vitest';
import WebSocket from 'ws';
import websocket, { CloseCode, reject } from '@switchyard/fastify';
import type { CloseEvent, Connection, Handlers, UpgradeRequest, WebSocketRouteOption } from '@switchyard/fastify';
import {
  Opcode,
  RawClient,
  captureWarnings,
  closed,
  delay,
  echo,
  frame,
  handshakeRequest,
  messages,
  openWs,
  quietFor,
  readResponse,
  selfSignedCert,
} from '../../../test/helpers.js';

declare module 'fastify' {
  interface FastifyRequest {
    member: string | null;
  }
}

const apps: FastifyInstance[] = [];
const clients: Array<WebSocket | RawClient> = [];
afterEach(async () => {
  for (const client of clients.splice(0)) {
    if (client instanceof RawClient) client.destroy();
    else client.terminate();
  }
  await Promise.all(apps.splice(0).map((app) => app.close()));
});

function track<T extends FastifyInstance | WebSocket | RawClient>(thing: T): T {
  if (thing instanceof WebSocket || thing instanceof RawClient) clients.push(thing);
  else apps.push(thing as FastifyInstance);
  return thing;
}

async function listen(app: FastifyInstance): Promise<number> {
  await app.listen({ port: 0, host: '127.0.0.1' });
  return (app.server.address() as AddressInfo).port;
}

/** Sends a raw handshake and reads the full HTTP answer. */
async function handshake(port: number, path: string, headers: Record<string, string | null> = {}) {
  const raw = track(await RawClient.connect(port));
  raw.write(handshakeRequest(path, headers));
  const response = await readResponse(raw);
  return { ...response, raw };
}

describe('fastify adapter', () => {
  it('runs the usage from the issue: a page and a socket on one path, a socket-only route behind a hook', async () => {
    const app = track(Fastify());
    app.decorateRequest('member', null);
    await app.register(websocket, { heartbeat: { interval: 30_000 } });
    const chat: Handlers<{ who: string; room: string }> = {
      protocols: ['chat'],
      upgrade(req) {
        return { context: { who: String(req.state.member ?? 'guest'), room: req.params.id ?? 'lobby' } };
      },
      open(ws) {
        ws.send(`${ws.context.who} in ${ws.context.room}`);
      },
      message(ws, data) {
        ws.send(data);
      },
    };
    const auth = async (request: FastifyRequest, reply: FastifyReply): Promise<unknown> => {
      if (request.headers.authorization !== 'Bearer good') {
        return reply.code(401).header('WWW-Authenticate', 'Bearer').send({ error: 'who are you?' });
      }
      request.member = 'ann';
      return undefined;
    };
    app.get('/chat', { websocket: chat }, (_request, reply) => reply.send('a page, for plain GETs'));
    app.get('/rooms/:id', { websocket: chat, preValidation: auth });
    const port = await listen(app);

    const page = await fetch(`http://127.0.0.1:${port}/chat`);
    expect([page.status, await page.text()]).toEqual([200, 'a page, for plain GETs']);
    const socketOnly = await fetch(`http://127.0.0.1:${port}/rooms/7`, { headers: { authorization: 'Bearer good' } });
    expect([socketOnly.status, socketOnly.headers.get('upgrade')]).toEqual([426, 'websocket']);
    expect(await socketOnly.text()).toMatch(/only speaks WebSocket/);

    const lobby = track(await openWs(`ws://127.0.0.1:${port}/chat`, ['soap', 'chat']));
    expect(lobby.protocol).toBe('chat');
    expect((await messages(lobby).next()).data.toString()).toBe('guest in lobby');

    const denied = await handshake(port, '/rooms/7');
    expect([denied.status, denied.headers['www-authenticate'], denied.body]).toEqual([
      401,
      'Bearer',
      '{"error":"who are you?"}',
    ]);
    expect(denied.raw.received.toString('latin1')).not.toContain(' 101 ');
    await denied.raw.waitClosed();

    const room = track(
      await openWs(`ws://127.0.0.1:${port}/rooms/7`, ['chat'], { headers: { authorization: 'Bearer good' } }),
    );
    const inbox = messages(room);
    expect((await inbox.next()).data.toString()).toBe('ann in 7');
    room.send('hello');
    expect((await inbox.next()).data.toString()).toBe('hello');
  });

  it('uses the plugin options as defaults that route options override', async () => {
    const app = track(Fastify());
    await app.register(websocket, { protocols: ['alpha'], maxPayload: 100, heartbeat: false });
    app.get('/defaults', {
      websocket: {
        message(ws, data) {
          ws.send(data);
        },
      },
    });
    app.get('/own', {
      websocket: {
        protocols: ['beta'],
        maxPayload: 10_000,
        message(ws, data) {
          ws.send(data);
        },
      },
    });
    const port = await listen(app);

    const own = track(await openWs(`ws://127.0.0.1:${port}/own`, ['alpha', 'beta']));
    expect(own.protocol).toBe('beta');
    own.send('x'.repeat(5000));
    expect((await messages(own).next()).data.length).toBe(5000);

    const defaults = track(await openWs(`ws://127.0.0.1:${port}/defaults`, ['beta', 'alpha']));
    expect(defaults.protocol).toBe('alpha');
    const gone = closed(defaults);
    defaults.send('x'.repeat(5000));
    expect((await gone).code).toBe(CloseCode.MESSAGE_TOO_BIG);
  });

  it('refuses bad plugin options like bad route options, at register (before any route is declared)', async () => {
    const app = track(Fastify());
    await expect(app.register(websocket, { maxPaylod: 5 } as never)).rejects.toThrow(
      expect.objectContaining({
        code: 'SWITCHYARD_ERR_INVALID_OPTION',
        message: expect.stringContaining('unknown option "maxPaylod"'),
      }),
    );
  });

  it('refuses a websocket option on a route that is not GET', async () => {
    const app = track(Fastify());
    await app.register(websocket);
    expect(() => app.post('/x', { websocket: echo }, async () => 'no')).toThrow(
      new TypeError('websocket: route POST /x must use GET, the only method of a WebSocket handshake'),
    );
    expect(() => app.route({ method: ['GET', 'POST'], url: '/y', websocket: echo })).toThrow(/must use GET/);
  });

  describe('the request lifecycle runs before the 101', () => {
    const hooks = ['onRequest', 'preParsing', 'preValidation', 'preHandler'] as const;

    async function guardedApp(seen: string[]): Promise<number> {
      const app = track(Fastify());
      await app.register(websocket, { heartbeat: false });
      // Each hook records that it ran, and answers 403 itself when X-Deny names it.
      const denies = (name: string, request: FastifyRequest, reply: FastifyReply): boolean => {
        seen.push(name);
        if (request.headers['x-deny'] !== name) return false;
        void reply.code(403).header('X-Denied-By', name).type('text/plain').send(`denied by ${name}`);
        return true;
      };
      app.get('/guarded', {
        onRequest(request, reply, done) {
          if (!denies('onRequest', request, reply)) done();
        },
        preParsing(request, reply, payload, done) {
          if (!denies('preParsing', request, reply)) done(null, payload);
        },
        preValidation(request, reply, done) {
          if (!denies('preValidation', request, reply)) done();
        },
        preHandler(request, reply, done) {
          if (!denies('preHandler', request, reply)) done();
        },
        websocket: {
          heartbeat: false,
          upgrade() {
            seen.push('upgrade');
          },
          open(ws) {
            ws.send('open');
          },
        },
      });
      return listen(app);
    }

    for (const [index, hook] of hooks.entries()) {
      it(`a reply from ${hook} goes out as real HTTP, with no 101`, async () => {
        const seen: string[] = [];
        const port = await guardedApp(seen);
        for (let round = 0; round < 2; round++) {
          seen.length = 0;
          const response = await handshake(port, '/guarded', { 'X-Deny': hook });
          expect([response.status, response.headers['x-denied-by'], response.body]).toEqual([
            403,
            hook,
            `denied by ${hook}`,
          ]);
          expect(response.headers.connection).toBe('close');
          expect(response.raw.received.toString('latin1')).not.toContain(' 101 ');
          await response.raw.waitClosed();
          expect(seen).toEqual(hooks.slice(0, index + 1));
        }
      });
    }

    it('every hook runs, in order, before the upgrade hook and the 101', async () => {
      const seen: string[] = [];
      const port = await guardedApp(seen);
      const ws = track(await openWs(`ws://127.0.0.1:${port}/guarded`));
      expect((await messages(ws).next()).data.toString()).toBe('open');
      expect(seen).toEqual([...hooks, 'upgrade']);
    });
  });

  it('validates params and querystring against the route schema: a failure answers 400', async () => {
    const app = track(Fastify());
    await app.register(websocket, { heartbeat: false });
    app.get('/rooms/:id', {
      schema: {
        params: { type: 'object', properties: { id: { type: 'integer' } }, required: ['id'] },
        querystring: { type: 'object', properties: { name: { type: 'string', minLength: 2 } }, required: ['name'] },
      },
      websocket: {
        upgrade(req) {
          const coerced = (req.state.params as { id: unknown }).id;
          return { context: `${req.params.id} ${typeof req.params.id} ${typeof coerced}` };
        },
        open(ws) {
          ws.send(ws.context);
        },
      },
    });
    const port = await listen(app);

    const badParam = await handshake(port, '/rooms/seven?name=ann');
    expect(badParam.status).toBe(400);
    expect(JSON.parse(badParam.body)).toMatchObject({
      statusCode: 400,
      message: expect.stringMatching(/params\/id must be integer/),
    });
    expect(badParam.raw.received.toString('latin1')).not.toContain(' 101 ');

    const badQuery = await handshake(port, '/rooms/7?name=a');
    expect(badQuery.status).toBe(400);
    expect(JSON.parse(badQuery.body).message).toMatch(/querystring\/name/);

    const ws = track(await openWs(`ws://127.0.0.1:${port}/rooms/7?name=ann`));
    expect((await messages(ws).next()).data.toString()).toBe('7 string number');
  });

  it("answers an upgrade to an unknown route with Fastify's 404, or the app's own not-found handler", async () => {
    const app = track(Fastify());
    await app.register(websocket, { heartbeat: false });
    app.get('/echo', { websocket: echo });
    await app.register(
      async (scope) => {
        scope.setNotFoundHandler((_request, reply) => reply.code(404).type('text/plain').send('no such room'));
      },
      { prefix: '/rooms' },
    );
    const port = await listen(app);

    const unknown = await handshake(port, '/nowhere');
    expect(unknown.status).toBe(404);
    expect(JSON.parse(unknown.body)).toMatchObject({ statusCode: 404, message: 'Route GET:/nowhere not found' });
    await unknown.raw.waitClosed();

    const custom = await handshake(port, '/rooms/9');
    expect([custom.status, custom.body]).toEqual([404, 'no such room']);
  });

  describe('encapsulation', () => {
    it('a hook in one scope never runs for a websocket route in a sibling scope', async () => {
      const app = track(Fastify());
      await app.register(websocket, { heartbeat: false });
      const ran: string[] = [];
      await app.register(async (scope) => {
        scope.addHook('onRequest', async (request) => {
          ran.push(request.url);
        });
        scope.get('/a', {
          websocket: {
            open(ws) {
              ws.send('a');
            },
          },
        });
      });
      await app.register(async (scope) => {
        scope.get('/b', {
          websocket: {
            open(ws) {
              ws.send('b');
            },
          },
        });
      });
      const port = await listen(app);

      const b = track(await openWs(`ws://127.0.0.1:${port}/b`));
      expect((await messages(b).next()).data.toString()).toBe('b');
      expect(ran).toEqual([]);
      const a = track(await openWs(`ws://127.0.0.1:${port}/a`));
      expect((await messages(a).next()).data.toString()).toBe('a');
      expect(ran).toEqual(['/a']);
    });

    it('the plugin registered in one scope does not turn routes of a sibling scope into sockets', async () => {
      const app = track(Fastify());
      await app.register(async (scope) => {
        await scope.register(websocket, { heartbeat: false });
        scope.get('/inside', {
          websocket: {
            open(ws) {
              ws.send('inside');
            },
          },
        });
      });
      await app.register(async (scope) => {
        scope.get('/outside', { websocket: echo }, (_request, reply) => reply.send('plain HTTP'));
        // Out here a route without a handler is Fastify's own error, as if the plugin did not exist.
        expect(() => scope.get('/outside-only', { websocket: echo })).toThrow(/Missing handler/);
      });
      const port = await listen(app);

      const outside = await handshake(port, '/outside');
      expect([outside.status, outside.body]).toEqual([200, 'plain HTTP']);
      const inside = track(await openWs(`ws://127.0.0.1:${port}/inside`));
      expect((await messages(inside).next()).data.toString()).toBe('inside');
    });

    it('refuses a second registration in the same scope chain', async () => {
      const app = Fastify();
      await app.register(websocket);
      const nested = app.register(async (scope) => {
        await scope.register(websocket, { heartbeat: false });
      });
      await expect(nested).rejects.toThrow(/already registered in this scope or a parent/);
    });
  });

  describe('app.close()', () => {
    it('sends every client 1001 and resolves only after their close handlers finished', async () => {
      const app = Fastify();
      await app.register(websocket, { heartbeat: false });
      const closes: number[] = [];
      app.get('/room', {
        websocket: {
          async close(_ws, event) {
            await delay(100);
            closes.push(event.code);
          },
        },
      });
      const port = await listen(app);
      const a = track(await openWs(`ws://127.0.0.1:${port}/room`));
      const b = track(await openWs(`ws://127.0.0.1:${port}/room`));
      const codes = Promise.all([closed(a), closed(b)]);
      await app.close();
      expect(closes).toEqual([CloseCode.GOING_AWAY, CloseCode.GOING_AWAY]);
      expect((await codes).map((c) => c.code)).toEqual([CloseCode.GOING_AWAY, CloseCode.GOING_AWAY]);
    });

    for (const return503OnClosing of [true, false]) {
      it(`answers upgrades that arrive while it closes with 503 (return503OnClosing: ${return503OnClosing})`, async () => {
        const app = Fastify({ return503OnClosing });
        await app.register(websocket, { heartbeat: false });
        app.get('/room', {
          websocket: {
            async close() {
              await delay(300);
            },
          },
        });
        const port = await listen(app);
        const ws = track(await openWs(`ws://127.0.0.1:${port}/room`));
        const gone = closed(ws);
        const closing = app.close();
        expect((await gone).code).toBe(CloseCode.GOING_AWAY);
        const late = await handshake(port, '/room');
        expect(late.status).toBe(503);
        // Fastify answers itself unless told not to; then the endpoint does, with Retry-After.
        if (return503OnClosing) expect(late.headers['content-type']).toMatch(/^application\/json/);
        else expect([late.headers['retry-after'], late.body]).toEqual(['5', 'Server is shutting down\n']);
        await closing;
      });
    }
  });

  describe('injectWS', () => {
    it('opens a socket in process, through every hook, without listening', async () => {
      const app = track(Fastify());
      app.decorateRequest('member', null);
      await app.register(websocket, { heartbeat: false });
      app.get('/rooms/:id', {
        onRequest: async (request, reply) => {
          if (request.headers.authorization !== 'Bearer good') return reply.code(401).send({ error: 'who are you?' });
          request.member = 'ann';
          return undefined;
        },
        websocket: {
          protocols: ['chat'],
          upgrade(req) {
            return { context: `${String(req.state.member)} in ${req.params.id} from ${req.remoteAddress}` };
          },
          open(ws) {
            ws.send(ws.context);
          },
          message(ws, data) {
            ws.send(data);
          },
        },
      });

      const ws = track(
        await app.injectWS('/rooms/7', { headers: { authorization: 'Bearer good' }, protocols: ['soap', 'chat'] }),
      );
      expect(app.server.listening).toBe(false);
      expect(ws.protocol).toBe('chat');
      const inbox = messages(ws);
      expect((await inbox.next()).data.toString()).toBe('ann in 7 from 127.0.0.1');
      ws.send('round trip');
      expect((await inbox.next()).data.toString()).toBe('round trip');

      await expect(app.injectWS('/rooms/7')).rejects.toThrow(/401/);
      await expect(app.injectWS('/nowhere')).rejects.toThrow(/404/);
      await expect(
        app.injectWS('/rooms/7', { headers: { authorization: 'Bearer good' }, protocols: ['soap'] }),
      ).rejects.toThrow(/400/);

      const gone = closed(ws);
      await app.close();
      expect((await gone).code).toBe(CloseCode.GOING_AWAY);
    });

    it('injects into an HTTPS app as well, and refuses a path without its leading slash', async () => {
      const app = track(Fastify({ https: await selfSignedCert() }));
      await app.register(websocket, { heartbeat: false });
      app.get('/echo', { websocket: echo });
      const ws = track(await app.injectWS('/echo'));
      const inbox = messages(ws);
      ws.send('over https, in process');
      expect((await inbox.next()).data.toString()).toBe('over https, in process');
      await expect(app.injectWS('echo')).rejects.toThrow(TypeError);
      await expect(app.injectWS('echo')).rejects.toMatchObject({
        message: 'injectWebSocket(): path must start with "/"',
        code: 'SWITCHYARD_ERR_INVALID_PATH',
      });
    });
  });

  it('a late reply.send() from a hook is dropped by Fastify once the reply is hijacked, and the socket stays clean', async () => {
    const capture = captureWarnings('SWITCHYARD_LATE_WRITE');
    try {
      const app = track(Fastify());
      await app.register(websocket, { heartbeat: false });
      app.get('/late', {
        onRequest(_request, reply, done) {
          done();
          setTimeout(() => {
            void reply.code(503).send('late');
          }, 50);
        },
        websocket: echo,
      });
      const port = await listen(app);
      const raw = track(await RawClient.connect(port));
      raw.write(handshakeRequest('/late'));
      expect((await raw.response()).status).toBe(101);
      // Past the late reply.send() at 50 ms: none of it may reach the socket.
      await quietFor(150);
      raw.write(frame(Opcode.TEXT, 'alive'));
      await raw.until(() => raw.frames().length >= 1);
      expect(raw.frames().map((f) => f.payload.toString())).toEqual(['alive']);
      expect(raw.received.toString('latin1').match(/HTTP\/1\.1/g)).toHaveLength(1);
      expect(capture.warnings).toEqual([]);
    } finally {
      capture.stop();
    }
  });
});

// These checks run at compile time (`pnpm typecheck`); the bodies only declare routes.
describe('public types', () => {
  it('types ws.context from what upgrade returns, in the route option, with or without a handler', async () => {
    const app = Fastify();
    await app.register(websocket, { heartbeat: { interval: 30_000 } });
    app.get(
      '/chat',
      {
        websocket: {
          upgrade(req) {
            expectTypeOf(req).toEqualTypeOf<UpgradeRequest>();
            if (!req.headers.authorization) throw reject(401);
            return { context: { user: 'ann', admin: false } };
          },
          message(ws, data, isBinary) {
            expectTypeOf(ws).toEqualTypeOf<Connection<{ user: string; admin: boolean }>>();
            expectTypeOf(data).toEqualTypeOf<string | Buffer>();
            expectTypeOf(isBinary).toBeBoolean();
            // @ts-expect-error: not part of the context
            void ws.context.missing;
          },
          close(ws, event) {
            expectTypeOf(event).toEqualTypeOf<CloseEvent>();
            expectTypeOf(ws.context.admin).toBeBoolean();
          },
        },
      },
      (_request, reply) => reply.send('page'),
    );
    app.get('/rooms/:id', {
      preValidation: async () => {},
      websocket: {
        async upgrade() {
          return { context: 42 };
        },
        open(ws) {
          expectTypeOf(ws.context).toEqualTypeOf<number>();
        },
      },
    });
    app.route({
      method: 'GET',
      url: '/route',
      websocket: {
        upgrade: () => ({ context: 'x' }),
        open(ws) {
          expectTypeOf(ws.context).toBeString();
        },
      },
    });
    app.get('/anonymous', {
      websocket: {
        message(ws) {
          expectTypeOf(ws.context).toEqualTypeOf<undefined>();
        },
      },
    });
    app.get('/faye', {
      websocket: (ws, req) => {
        expectTypeOf(req.path).toBeString();
        ws.on('message', (data) => ws.send(data));
      },
    });
    app.addHook('onRoute', (route) => {
      expectTypeOf(route.websocket).toEqualTypeOf<WebSocketRouteOption | undefined>();
    });
    expectTypeOf(app.injectWS).returns.toEqualTypeOf<Promise<WebSocket>>();
    expectTypeOf(app.injectWS)
      .parameter(1)
      .toEqualTypeOf<{ headers?: Record<string, string>; protocols?: string | string[] } | undefined>();
  });

  it('rejects option mistakes at compile time, and at run time for JavaScript users', async () => {
    const misconfigured = Fastify();
    // @ts-expect-error: heartbeat takes { interval, timeout } or false
    await expect(misconfigured.register(websocket, { heartbeat: true })).rejects.toThrow(/"heartbeat"/);
    const app = Fastify();
    await app.register(websocket);
    // @ts-expect-error: protocols is a list or a function
    expect(() => app.get('/a', { websocket: { protocols: 'chat' } })).toThrow(TypeError);
    // @ts-expect-error: an unknown option
    expect(() => app.get('/b', { websocket: { maxPaylod: 5 } })).toThrow(/unknown option "maxPaylod"/);
    // @ts-expect-error: a route without the websocket option still needs a handler
    expect(() => app.get('/c', { schema: {} })).toThrow(/Missing handler/);
  });
});
