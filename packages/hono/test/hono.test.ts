/**
 * What is Hono's own in @switchyard/hono: upgradeWebSocket() with Hono's handler shape and
 * events, the direct form, Hono middleware (bearerAuth, jwt, cors) answering before the 101, c.set()
 * and route parameters reaching switchyard's hooks, the fallback and topics through Hono's API.
 * The shared suites (test/<suite>/hono.test.ts) cover the protocol through the same middleware.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { getRequestListener } from '@hono/node-server';
import { Hono } from 'hono';
import type { MiddlewareHandler } from 'hono';
import { bearerAuth } from 'hono/bearer-auth';
import { cors } from 'hono/cors';
import { jwt, sign } from 'hono/jwt';
import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type WebSocket from 'ws';
import { connect } from '@switchyard/client';
import { WSContext as HonoWSContext } from 'hono/ws';
import { Connection, ErrorCode, createNodeWebSocket, upgradeWebSocket, websocket } from '@switchyard/hono';
import type { UpgradeRequest } from '@switchyard/hono';
import { RawClient, closed, handshakeRequest, messages, openWs } from '../../../test/helpers.js';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function serve(app: Hono): Promise<number> {
  const server = http.createServer(getRequestListener(app.fetch));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return (server.address() as AddressInfo).port;
}

function track(ws: WebSocket): WebSocket {
  cleanups.push(() => ws.terminate());
  return ws;
}

describe("upgradeWebSocket(): Hono's handler shape", () => {
  it("delivers Hono's events, text as a string and binary as an ArrayBuffer, to a WSContext over the Connection", async () => {
    const seen: unknown[] = [];
    const app = new Hono();
    app.get(
      '/ws',
      upgradeWebSocket(
        (c) => ({
          onOpen(event, ws) {
            seen.push(['open', event.type, ws.readyState, ws.protocol, ws.url?.pathname, c.req.query('room')]);
            expect(ws.raw).toBeInstanceOf(Connection);
            // switchyard's WSContext parses its URL on first read; it is still hono/ws's class.
            expect(ws).toBeInstanceOf(HonoWSContext);
            expect([ws.url?.search, ws.binaryType]).toEqual(['?room=a', 'arraybuffer']);
          },
          onMessage(event, ws) {
            seen.push(['message', typeof event.data === 'string' ? event.data : event.data.constructor.name]);
            ws.send(event.data as string | ArrayBuffer);
          },
          onClose(event) {
            seen.push(['close', event.type, event.code, event.reason, event.wasClean]);
          },
        }),
        { protocols: ['chat'] },
      ),
    );
    const port = await serve(app);
    const ws = await openWs(`ws://127.0.0.1:${port}/ws?room=a`, ['soap', 'chat']);
    expect(ws.protocol).toBe('chat');
    ws.send('héllo');
    expect((await messages(ws).next()).data.toString()).toBe('héllo');
    ws.send(Buffer.from([1, 2, 3]));
    const binary = await messages(ws).next();
    expect([binary.isBinary, [...binary.data]]).toEqual([true, [1, 2, 3]]);
    ws.close(4001, 'bye');
    await closed(ws);
    await vi.waitFor(() => expect(seen.at(-1)).toEqual(['close', 'close', 4001, 'bye', true]));
    expect(seen.slice(0, 3)).toEqual([
      ['open', 'open', 1, 'chat', '/ws', 'a'],
      ['message', 'héllo'],
      ['message', 'ArrayBuffer'],
    ]);
  });

  it('each binary message is an ArrayBuffer of exactly its own bytes, whatever the sizes and neighbours', async () => {
    const received: Uint8Array[] = [];
    const app = new Hono();
    app.get(
      '/ws',
      upgradeWebSocket(() => ({
        onMessage(event, ws) {
          const data = event.data as ArrayBuffer;
          received.push(new Uint8Array(data).slice());
          // Written to after it was handed over: no other message may see it.
          new Uint8Array(data).fill(0xee);
          ws.send(String(data.byteLength));
        },
      })),
    );
    const ws = track(await openWs(`ws://127.0.0.1:${await serve(app)}/ws`));
    const inbox = messages(ws);
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.uint8Array({ minLength: 0, maxLength: 3000 }), { minLength: 1, maxLength: 8 }),
        async (batch) => {
          received.length = 0;
          // Sent back to back, so that several arrive in one TCP read and share ws's buffer.
          for (const bytes of batch) ws.send(bytes);
          for (const bytes of batch) expect((await inbox.next()).data.toString()).toBe(String(bytes.length));
          expect(received.map((bytes) => [...bytes])).toEqual(batch.map((bytes) => [...bytes]));
        },
      ),
      { numRuns: 25 },
    );
  });

  it('the direct form upgrades from inside a handler; a plain request there gets Hono\'s error ("Failed to upgrade WebSocket")', async () => {
    const errors: string[] = [];
    const app = new Hono();
    app.onError((error, c) => {
      errors.push(error.message);
      return c.text('no', 500);
    });
    app.get('/ws', (c) => upgradeWebSocket(c, { onMessage: (event, ws) => ws.send(`echo ${String(event.data)}`) }));
    const port = await serve(app);
    const ws = track(await openWs(`ws://127.0.0.1:${port}/ws`));
    ws.send('x');
    expect((await messages(ws).next()).data.toString()).toBe('echo x');
    expect((await fetch(`http://127.0.0.1:${port}/ws`)).status).toBe(500);
    expect(errors).toEqual(['Failed to upgrade WebSocket']);
  });

  it("a handler that throws goes to options.onError, and the connection closes with 1011 (switchyard's policy)", async () => {
    const onError = vi.fn();
    const app = new Hono();
    app.get(
      '/ws',
      upgradeWebSocket(
        () => ({
          onMessage() {
            throw new Error('boom');
          },
        }),
        { onError },
      ),
    );
    const ws = track(await openWs(`ws://127.0.0.1:${await serve(app)}/ws`));
    ws.send('x');
    expect((await closed(ws)).code).toBe(1011);
    expect(onError).toHaveBeenCalledWith(expect.objectContaining({ message: 'boom' }));
  });

  it("a peer's protocol error reaches onError as an ErrorEvent, then onClose with 1002", async () => {
    const seen: unknown[] = [];
    const app = new Hono();
    app.get(
      '/ws',
      upgradeWebSocket(() => ({
        onError: (event) =>
          seen.push(['error', event.type, (event as Event & { error: Error }).error instanceof Error]),
        onClose: (event) => seen.push(['close', event.code]),
      })),
    );
    const raw = await RawClient.connect(await serve(app));
    cleanups.push(() => raw.destroy());
    raw.write(handshakeRequest('/ws'));
    await raw.response();
    // An unmasked frame from a client: a protocol error (RFC 6455 5.1).
    raw.write(Buffer.from([0x81, 0x01, 0x61]));
    await vi.waitFor(() =>
      expect(seen).toEqual([
        ['error', 'error', true],
        ['close', 1002],
      ]),
    );
  });

  it('outside @hono/node-server (app.request), a handshake fails loudly with SWITCHYARD_ERR_UNSUPPORTED_RUNTIME', async () => {
    const codes: unknown[] = [];
    const app = new Hono();
    app.onError((error, c) => {
      codes.push((error as Error & { code?: string }).code);
      return c.text(error.message, 500);
    });
    app.get(
      '/ws',
      upgradeWebSocket(() => ({})),
    );
    app.get(
      '/page',
      upgradeWebSocket(() => ({})),
      (c) => c.text('page'),
    );
    const answer = await app.request('/ws', { headers: { upgrade: 'websocket', connection: 'Upgrade' } });
    expect(answer.status).toBe(500);
    expect(await answer.text()).toMatch(/@hono\/node-server/);
    expect(codes).toEqual([ErrorCode.UNSUPPORTED_RUNTIME]);
    // Plain requests pass on as before.
    expect(await (await app.request('/page')).text()).toBe('page');
  });
});

describe("createNodeWebSocket(): @hono/node-ws's entry point", () => {
  it('an app written for @hono/node-ws runs with its import changed: middleware before the 101, then the echo', async () => {
    const app = new Hono();
    const { injectWebSocket, upgradeWebSocket: upgrade } = createNodeWebSocket({ app });
    app.use('/ws', bearerAuth({ token: 'good' }));
    app.get(
      '/ws',
      upgrade(() => ({ onMessage: (event, ws) => ws.send(`echo ${String(event.data)}`) })),
    );
    const server = http.createServer(getRequestListener(app.fetch));
    injectWebSocket(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    cleanups.push(() => server.closeAllConnections());
    const port = (server.address() as AddressInfo).port;
    await expect(openWs(`ws://127.0.0.1:${port}/ws`)).rejects.toThrow(/401/);
    const ws = track(await openWs(`ws://127.0.0.1:${port}/ws`, [], { headers: { Authorization: 'Bearer good' } }));
    ws.send('x');
    expect((await messages(ws).next()).data.toString()).toBe('echo x');
  });

  it('injectWebSocket() twice, beside a raw upgrade listener, adds one route; broken handshakes still get their 400 and 426', async () => {
    const app = new Hono();
    const { injectWebSocket, upgradeWebSocket: upgrade } = createNodeWebSocket({ app, baseUrl: 'http://example' });
    app.get(
      '/ws',
      upgrade(() => ({ onOpen: (_event, ws) => ws.send('opened') })),
    );
    const server = http.createServer(getRequestListener(app.fetch));
    // Another package's listener for its own path, added first, as @hono/node-ws users may keep.
    server.on('upgrade', (req, socket) => {
      if (req.url === '/other') socket.end('HTTP/1.1 418 Teapot\r\nConnection: close\r\n\r\n');
    });
    injectWebSocket(server);
    injectWebSocket(server);
    expect(server.listenerCount('upgrade')).toBe(2);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    cleanups.push(() => server.closeAllConnections());
    const port = (server.address() as AddressInfo).port;
    const statusOf = async (request: string) => {
      const raw = await RawClient.connect(port);
      cleanups.push(() => raw.destroy());
      raw.write(request);
      await raw.waitClosed();
      return (await raw.response()).statusLine.split(' ')[1];
    };
    expect(await statusOf(handshakeRequest('/ws', { 'Sec-WebSocket-Key': 'short' }))).toBe('400');
    expect(await statusOf(handshakeRequest('/ws', { 'Sec-WebSocket-Version': '8' }))).toBe('426');
    expect(await statusOf(handshakeRequest('/other'))).toBe('418');
    const ws = track(await openWs(`ws://127.0.0.1:${port}/ws`));
    expect((await messages(ws).next()).data.toString()).toBe('opened');
  });
});

describe('Hono middleware before the 101', () => {
  const refusal = async (port: number, path: string, headers: Record<string, string> = {}) => {
    const raw = await RawClient.connect(port);
    cleanups.push(() => raw.destroy());
    raw.write(handshakeRequest(path, headers));
    await raw.waitClosed();
    const head = await raw.response();
    return { status: head.statusLine.split(' ')[1], headers: head.headers, body: head.rest.toString() };
  };

  it('bearerAuth, jwt and cors give their real statuses and headers; a good token gets the 101', async () => {
    const secret = 'a-secret-of-32-characters-or-so!';
    const app = new Hono();
    app.use('*', cors({ origin: 'https://app.example' }));
    app.use('/bearer', bearerAuth({ token: 'good' }));
    app.use('/jwt', jwt({ secret, alg: 'HS256' }));
    const echo = upgradeWebSocket(() => ({ onMessage: (event, ws) => ws.send(String(event.data)) }));
    app.get('/bearer', echo);
    app.get(
      '/jwt',
      upgradeWebSocket((c) => ({
        onOpen: (_event, ws) => ws.send(String((c.get('jwtPayload') as { sub: string }).sub)),
      })),
    );
    const port = await serve(app);

    const bearer = await refusal(port, '/bearer', { Origin: 'https://app.example' });
    expect(bearer.status).toBe('401');
    expect(bearer.headers['www-authenticate']).toMatch(/^Bearer realm=/);
    expect(bearer.headers['access-control-allow-origin']).toBe('https://app.example');
    expect((await refusal(port, '/bearer', { Authorization: 'Bearer bad' })).status).toBe('401');
    expect((await refusal(port, '/jwt', { Authorization: 'Bearer not.a.jwt' })).status).toBe('401');
    const preflight = await fetch(`http://127.0.0.1:${port}/bearer`, {
      method: 'OPTIONS',
      headers: { Origin: 'https://app.example', 'Access-Control-Request-Method': 'GET' },
    });
    expect(preflight.status).toBe(204);

    const ok = track(
      await openWs(`ws://127.0.0.1:${port}/bearer`, undefined, { headers: { Authorization: 'Bearer good' } }),
    );
    ok.send('hi');
    expect((await messages(ok).next()).data.toString()).toBe('hi');
    const token = await sign({ sub: 'ann' }, secret, 'HS256');
    const viaJwt = track(
      await openWs(`ws://127.0.0.1:${port}/jwt`, undefined, { headers: { Authorization: `Bearer ${token}` } }),
    );
    expect((await messages(viaJwt).next()).data.toString()).toBe('ann');
  });

  it('a page pipelined ahead of an upgrade is answered first, then the 101, on one connection', async () => {
    const app = new Hono();
    app.get('/page', (c) => c.text('a page'));
    app.get(
      '/ws',
      upgradeWebSocket(() => ({ onOpen: (_event, ws) => ws.send('opened') })),
    );
    const raw = await RawClient.connect(await serve(app));
    cleanups.push(() => raw.destroy());
    raw.write(`GET /page HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n${handshakeRequest('/ws')}`);
    const all = (await raw.until((b) => b.includes('opened'))).toString('latin1');
    const page = all.indexOf('HTTP/1.1 200');
    const upgrade = all.indexOf('HTTP/1.1 101');
    expect(page).toBe(0);
    expect(upgrade).toBeGreaterThan(all.indexOf('a page'));
  });

  it("websocket(): c.set() values reach req.state, Hono's route parameters reach req.params", async () => {
    const requests: UpgradeRequest[] = [];
    const setUser: MiddlewareHandler = async (c, next) => {
      c.set('user' as never, 'ann' as never);
      await next();
    };
    const app = new Hono();
    app.all(
      '/rooms/:id',
      setUser,
      websocket({
        upgrade(req) {
          requests.push(req);
          return { context: `${String(req.state.user)}@${req.params.id}` };
        },
        open: (ws) => ws.send(ws.context),
      }),
    );
    const ws = track(await openWs(`ws://127.0.0.1:${await serve(app)}/rooms/42`));
    expect((await messages(ws).next()).data.toString()).toBe('ann@42');
  });
});

describe('the fallback and topics through upgradeWebSocket()', () => {
  it('@switchyard/client over SSE + POST (app.on GET and POST) reaches the same onMessage, and topics span both transports', async () => {
    const app = new Hono();
    app.on(
      ['GET', 'POST'],
      '/chat',
      upgradeWebSocket(() => ({
        onOpen: (_event, ws) => ws.raw?.subscribe('room'),
        onMessage: (event, ws) => void ws.raw?.publish('room', `${ws.raw.transport}: ${String(event.data)}`),
      })),
    );
    const port = await serve(app);
    const viaWs = track(await openWs(`ws://127.0.0.1:${port}/chat`));
    const sse = connect(`ws://127.0.0.1:${port}/chat`, { transports: ['sse'], reconnect: false });
    cleanups.push(() => sse.close());
    const received: string[] = [];
    sse.addEventListener('message', (event) => received.push(String(event.data)));
    await new Promise((resolve) => sse.addEventListener('open', resolve));
    expect(sse.transport).toBe('sse');
    sse.send('from sse');
    expect((await messages(viaWs).next()).data.toString()).toBe('sse: from sse');
    viaWs.send('from ws');
    // A publisher does not hear its own publish.
    await vi.waitFor(() => expect(received).toEqual(['websocket: from ws']));
  });

  it('app.get() alone: the fallback warns SWITCHYARD_FALLBACK_UNREACHABLE (its POSTs never reach a GET route)', async () => {
    const warned = vi.fn();
    process.on('warning', warned);
    cleanups.push(() => process.off('warning', warned));
    const app = new Hono();
    app.get(
      '/get-only',
      upgradeWebSocket(() => ({})),
    );
    const port = await serve(app);
    const sse = connect(`ws://127.0.0.1:${port}/get-only`, { transports: ['sse'], reconnect: false });
    cleanups.push(() => sse.close());
    await vi.waitFor(() =>
      expect(warned).toHaveBeenCalledWith(expect.objectContaining({ code: 'SWITCHYARD_FALLBACK_UNREACHABLE' })),
    );
  });
});
