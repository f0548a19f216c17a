/**
 * `ws.request.remoteAddress` behind a proxy: each adapter hands core the address its framework
 * computed under its own trust setting (Express `trust proxy`, Koa `app.proxy`, Fastify
 * `trustProxy`), and the socket's address otherwise, whatever `X-Forwarded-For` says. Also the
 * router pitfall: an endpoint on a GET-only route warns once when a fallback session opens,
 * because the session's POSTs cannot reach it.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import fc from 'fast-check';
import WebSocket from 'ws';
import express from 'express';
import Koa from 'koa';
import Router from '@koa/router';
import Fastify from 'fastify';
import { websocket as expressWebsocket } from '@switchyard/express';
import { websocket as koaWebsocket } from '@switchyard/koa';
import fastifyWebsocket from '@switchyard/fastify';
import type { Handlers } from '@switchyard/core';

/** What the endpoint saw as the client's address, at each step of a connection. */
interface Seen {
  upgrade: Array<string | undefined>;
  open: Array<string | undefined>;
  close: Array<string | undefined>;
}

function recorder(): { seen: Seen; handlers: Handlers<undefined> } {
  const seen: Seen = { upgrade: [], open: [], close: [] };
  return {
    seen,
    handlers: {
      upgrade(req) {
        seen.upgrade.push(req.remoteAddress);
      },
      open(ws) {
        seen.open.push(ws.request.remoteAddress);
      },
      message(ws, data) {
        ws.send(data);
      },
      close(ws) {
        seen.close.push(ws.request.remoteAddress);
      },
    },
  };
}

type Mounting = 'use' | 'get' | 'all';

interface App {
  server: http.Server;
  close(): Promise<void>;
}

const builders: Record<
  'express' | 'koa' | 'fastify',
  (handlers: Handlers<undefined>, trust: boolean, mounting?: Mounting) => Promise<App>
> = {
  async express(handlers, trust, mounting = 'use') {
    const app = express();
    if (trust) app.set('trust proxy', 'loopback');
    const router = express.Router();
    if (mounting === 'use') app.use('/rooms/:id', expressWebsocket(handlers));
    else {
      router[mounting]('/rooms/:id', expressWebsocket(handlers));
      app.use(router);
    }
    const server = http.createServer(app);
    return { server, close: async () => {} };
  },
  async koa(handlers, trust, mounting = 'all') {
    const app = new Koa();
    app.proxy = trust;
    // Behind one proxy: ctx.ip is the address that proxy saw, not the leftmost (client-chosen) one.
    app.maxIpsCount = 1;
    const router = new Router();
    if (mounting === 'use') app.use(koaWebsocket(handlers));
    else router[mounting]('/rooms/:id', koaWebsocket(handlers));
    app.use(router.routes());
    const server = http.createServer(app.callback());
    return { server, close: async () => {} };
  },
  async fastify(handlers, trust) {
    let server!: http.Server;
    const app = Fastify({
      ...(trust ? { trustProxy: '127.0.0.1' } : {}),
      serverFactory: (handler) => (server = http.createServer(handler)),
    });
    await app.register(fastifyWebsocket);
    app.get('/rooms/:id', { websocket: handlers });
    await app.ready();
    return { server, close: () => app.close() };
  },
};

const running: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const stop of running.splice(0)) await stop();
});

async function listen(app: App): Promise<number> {
  await new Promise<void>((resolve) => app.server.listen(0, '127.0.0.1', resolve));
  running.push(async () => {
    await app.close();
    app.server.closeAllConnections();
    await new Promise<void>((resolve) => app.server.close(() => resolve()));
  });
  return (app.server.address() as AddressInfo).port;
}

/** Opens a WebSocket with the given X-Forwarded-For, echoes once, closes. */
async function roundTrip(port: number, forwardedFor: string | undefined): Promise<void> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/rooms/7`, {
    headers: forwardedFor === undefined ? {} : { 'X-Forwarded-For': forwardedFor },
  });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  const echoed = new Promise<string>((resolve) => ws.once('message', (data) => resolve(String(data))));
  ws.send('hi');
  expect(await echoed).toBe('hi');
  const closed = new Promise<void>((resolve) => ws.once('close', () => resolve()));
  ws.close();
  await closed;
}

/** Opens a fallback SSE session and reads until its `open` event, then drops the stream. */
async function sseSession(port: number, forwardedFor: string | undefined): Promise<void> {
  const controller = new AbortController();
  const response = await fetch(`http://127.0.0.1:${port}/rooms/7?__sy=sse`, {
    headers: {
      Accept: 'text/event-stream',
      ...(forwardedFor === undefined ? {} : { 'X-Forwarded-For': forwardedFor }),
    },
    signal: controller.signal,
  });
  expect(response.status).toBe(200);
  const reader = response.body!.getReader();
  let text = '';
  while (!text.includes('event: open')) {
    const { value, done } = await reader.read();
    if (done) break;
    text += Buffer.from(value).toString();
  }
  expect(text).toContain('event: open');
  controller.abort();
}

const CLIENT = '203.0.113.9';

for (const [name, build] of Object.entries(builders)) {
  describe(`${name}: ws.request.remoteAddress behind a proxy`, () => {
    it('is the forwarded client address when the app trusts the proxy (upgrade, open, close)', async () => {
      const { seen, handlers } = recorder();
      const port = await listen(await build(handlers, true));
      await roundTrip(port, `198.51.100.1, ${CLIENT}`);
      await vi.waitFor(() => expect(seen.close).toHaveLength(1));
      expect(seen).toEqual({ upgrade: [CLIENT], open: [CLIENT], close: [CLIENT] });
    });

    it('is the socket address when the app does not trust a proxy, whatever X-Forwarded-For says', async () => {
      const { seen, handlers } = recorder();
      const port = await listen(await build(handlers, false));
      await roundTrip(port, CLIENT);
      await vi.waitFor(() => expect(seen.close).toHaveLength(1));
      expect(seen).toEqual({ upgrade: ['127.0.0.1'], open: ['127.0.0.1'], close: ['127.0.0.1'] });
    });

    it('follows the same rule for a fallback (SSE) session', async () => {
      for (const trust of [true, false]) {
        const { seen, handlers } = recorder();
        const port = await listen(await build(handlers, trust));
        await sseSession(port, CLIENT);
        await vi.waitFor(() => expect(seen.open).toHaveLength(1));
        expect(seen.upgrade).toEqual([trust ? CLIENT : '127.0.0.1']);
        expect(seen.open).toEqual([trust ? CLIENT : '127.0.0.1']);
      }
    });

    it('maxConnectionsPerAddress counts the forwarded client behind a trusted proxy, and the socket behind an untrusted one', async () => {
      for (const trust of [true, false]) {
        const port = await listen(
          await build(
            {
              heartbeat: false,
              maxConnectionsPerAddress: 1,
              message(ws, data) {
                ws.send(data);
              },
            },
            trust,
          ),
        );
        const open = async (forwardedFor: string): Promise<WebSocket | number> => {
          const ws = new WebSocket(`ws://127.0.0.1:${port}/rooms/7`, { headers: { 'X-Forwarded-For': forwardedFor } });
          return new Promise((resolve) => {
            ws.once('open', () => resolve(ws));
            // Terminating a socket still connecting makes ws emit 'error' ("closed before the
            // connection was established"): expected here, and not an uncaught exception.
            ws.on('error', () => {});
            ws.once('unexpected-response', (_req, res) => {
              resolve(res.statusCode ?? 0);
              ws.terminate();
            });
          });
        };
        const first = await open('203.0.113.1');
        const second = await open('203.0.113.2');
        const again = await open('203.0.113.1');
        expect(first).toBeInstanceOf(WebSocket);
        // Trusted: two clients, one place each, and the first one's second connection is refused.
        // Untrusted: everyone is 127.0.0.1, whatever the header says.
        if (trust) {
          expect(second).toBeInstanceOf(WebSocket);
          expect(again).toBe(429);
        } else {
          expect(second).toBe(429);
          expect(again).toBe(429);
        }
        for (const ws of [first, second, again]) if (ws instanceof WebSocket) ws.terminate();
      }
    });

    it('cannot be spoofed with any X-Forwarded-For when the proxy is not trusted (generated headers)', async () => {
      const { seen, handlers } = recorder();
      const port = await listen(await build(handlers, false));
      const headerValue = fc.stringMatching(/^[\x21-\x7e][\x20-\x7e]{0,60}$/);
      await fc.assert(
        fc.asyncProperty(fc.oneof(headerValue, fc.ipV4(), fc.ipV6()), async (forwardedFor) => {
          const before = seen.open.length;
          await roundTrip(port, forwardedFor);
          expect(seen.open.slice(before)).toEqual(['127.0.0.1']);
        }),
        { numRuns: 25 },
      );
    });

    it('is each generated client address when the proxy is trusted', async () => {
      const { seen, handlers } = recorder();
      const port = await listen(await build(handlers, true));
      await fc.assert(
        fc.asyncProperty(fc.ipV4(), async (client) => {
          const before = seen.open.length;
          await roundTrip(port, client);
          expect(seen.open.slice(before)).toEqual([client]);
        }),
        { numRuns: 25 },
      );
    });
  });
}

describe('the router pitfall: an endpoint its fallback POSTs cannot reach', () => {
  const warnings: Error[] = [];
  const onWarning = (warning: Error): void => {
    warnings.push(warning);
  };
  afterEach(() => {
    process.off('warning', onWarning);
    warnings.length = 0;
  });
  const pitfalls = (): Error[] =>
    warnings.filter((w) => (w as Error & { code?: string }).code === 'SWITCHYARD_FALLBACK_UNREACHABLE');

  for (const name of ['express', 'koa'] as const) {
    it(`${name}: router.get(path, websocket()) warns once when a session opens, naming the fix`, async () => {
      process.on('warning', onWarning);
      const { seen, handlers } = recorder();
      const port = await listen(await builders[name](handlers, false, 'get'));
      await roundTrip(port, undefined);
      expect(pitfalls()).toHaveLength(0);
      await sseSession(port, undefined);
      await sseSession(port, undefined);
      await vi.waitFor(() => expect(seen.open).toHaveLength(3));
      await vi.waitFor(() => expect(pitfalls()).toHaveLength(1));
      expect(pitfalls()[0]!.message).toContain('/rooms/7');
      expect(pitfalls()[0]!.message).toContain('router.all');
      // The warning is right: the session's POST does not reach the endpoint.
      const post = await fetch(`http://127.0.0.1:${port}/rooms/7?__sy=post&__sy_session=x`, {
        method: 'POST',
        body: '{"seq":0,"frames":[]}',
      });
      expect(post.status).toBe(404);
      expect(await post.text()).not.toContain('Unknown or expired session');
    });

    for (const mounting of ['all', 'use'] as const) {
      it(`${name}: ${mounting === 'use' ? (name === 'express' ? 'app.use' : 'router.use') : 'router.all'}(path, websocket()) reaches the POSTs and does not warn`, async () => {
        process.on('warning', onWarning);
        const { seen, handlers } = recorder();
        const port = await listen(await builders[name](handlers, false, mounting));
        await sseSession(port, undefined);
        await vi.waitFor(() => expect(seen.open).toHaveLength(1));
        const post = await fetch(`http://127.0.0.1:${port}/rooms/7?__sy=post&__sy_session=x`, {
          method: 'POST',
          body: '{"seq":0,"frames":[]}',
        });
        expect(await post.text()).toContain('Unknown or expired session');
        await new Promise((resolve) => setImmediate(resolve));
        expect(pitfalls()).toHaveLength(0);
      });
    }
  }

  it('fastify: a websocket route gets its POST twin and does not warn', async () => {
    process.on('warning', onWarning);
    const { seen, handlers } = recorder();
    const port = await listen(await builders.fastify(handlers, false));
    await sseSession(port, undefined);
    await vi.waitFor(() => expect(seen.open).toHaveLength(1));
    await new Promise((resolve) => setImmediate(resolve));
    expect(pitfalls()).toHaveLength(0);
  });
});
