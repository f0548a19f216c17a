/**
 * Debian's nginx, with the configuration docs/deployment.md shows, in front of an Express, a Koa
 * and a Fastify app: the WebSocket echo over wss://, the heartbeat across idle periods longer than
 * nginx's read timeout, the SSE fallback and its POSTs, and the client's address reaching
 * `ws.request.remoteAddress` when (and only when) the app trusts the proxy.
 *
 * The client connects from 127.0.0.2, so the address nginx forwards differs from nginx's own
 * (127.0.0.1) and from the X-Forwarded-For the client tries to forge.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import { Agent, fetch as undiciFetch } from 'undici';
import express from 'express';
import Koa from 'koa';
import Router from '@koa/router';
import Fastify from 'fastify';
import { websocket as expressWebsocket } from '@switchyard/express';
import { websocket as koaWebsocket } from '@switchyard/koa';
import fastifyWebsocket from '@switchyard/fastify';
import { websocket as honoWebsocket } from '@switchyard/hono';
import { getRequestListener } from '@hono/node-server';
import { Hono } from 'hono';
import type { Handlers } from '@switchyard/core';
import { connect } from '@switchyard/client';
import type { SwitchyardSocket } from '@switchyard/client';
import { quietFor, requireAssertions, selfSignedCert } from '../helpers.js';
import { startNginx } from './nginx.js';
import type { Nginx, NginxOptions } from './nginx.js';
import type { Harness } from '../harness.js';

const CLIENT_ADDRESS = '127.0.0.2';
const FORGED = '203.0.113.9';

interface Seen {
  opens: Array<{ path: string; transport: string; remoteAddress: string | undefined }>;
}

/** /live pings every 500 ms; /quiet has no heartbeat. Both echo, binary as binary. */
function endpoints(seen: Seen): Record<'/live' | '/quiet', Handlers<undefined>> {
  const handlers = (heartbeat: Handlers<undefined>['heartbeat']): Handlers<undefined> => ({
    heartbeat,
    open(ws) {
      seen.opens.push({ path: ws.request.path, transport: ws.transport, remoteAddress: ws.request.remoteAddress });
    },
    message(ws, data) {
      ws.send(data);
    },
  });
  return { '/live': handlers({ interval: 500, timeout: 1000 }), '/quiet': handlers(false) };
}

interface App {
  server: http.Server;
  close(): Promise<void>;
}

const apps: Record<'express' | 'koa' | 'fastify' | 'hono', (seen: Seen, trust: boolean) => Promise<App>> = {
  async hono(seen, trust) {
    const app = new Hono();
    const trustProxy = trust ? (address: string) => address === '127.0.0.1' : false;
    for (const [path, handlers] of Object.entries(endpoints(seen)))
      app.all(path, honoWebsocket(handlers, { trustProxy }));
    return { server: http.createServer(getRequestListener(app.fetch)), close: async () => {} };
  },
  async express(seen, trust) {
    const app = express();
    if (trust) app.set('trust proxy', 'loopback');
    for (const [path, handlers] of Object.entries(endpoints(seen))) app.use(path, expressWebsocket(handlers));
    return { server: http.createServer(app), close: async () => {} };
  },
  async koa(seen, trust) {
    const app = new Koa();
    app.proxy = trust;
    const router = new Router();
    for (const [path, handlers] of Object.entries(endpoints(seen))) router.all(path, koaWebsocket(handlers));
    app.use(router.routes());
    return { server: http.createServer(app.callback()), close: async () => {} };
  },
  async fastify(seen, trust) {
    let server!: http.Server;
    const app = Fastify({
      ...(trust ? { trustProxy: '127.0.0.1' } : {}),
      serverFactory: (handler) => (server = http.createServer(handler)),
    });
    await app.register(fastifyWebsocket);
    for (const [path, handlers] of Object.entries(endpoints(seen))) app.get(path, { websocket: handlers });
    await app.ready();
    return { server, close: () => app.close() };
  },
};

let tls: { key: string; cert: string };

const stops: Array<() => Promise<void>> = [];
async function stopAll(): Promise<void> {
  for (const stop of stops.splice(0).reverse()) await stop();
}

/** The app on 127.0.0.1:0 and nginx in front of it. */
async function behindNginx(
  name: keyof typeof apps,
  trust: boolean,
  readTimeout?: string,
  buffering?: NginxOptions['buffering'],
): Promise<{ seen: Seen; nginx: Nginx }> {
  const seen: Seen = { opens: [] };
  const app = await apps[name](seen, trust);
  await new Promise<void>((resolve) => app.server.listen(0, '127.0.0.1', resolve));
  stops.push(async () => {
    await app.close();
    app.server.closeAllConnections();
    await new Promise<void>((resolve) => app.server.close(() => resolve()));
  });
  const nginx = await startNginx({
    upstreamPort: (app.server.address() as AddressInfo).port,
    tls,
    ...(readTimeout ? { readTimeout } : {}),
    ...(buffering ? { buffering } : {}),
  });
  stops.push(() => nginx.stop());
  return { seen, nginx };
}

interface Client {
  ws: WebSocket;
  received: Array<{ data: Buffer; isBinary: boolean }>;
  closed: Promise<{ code: number; at: number }>;
}

async function open(nginx: Nginx, path: string): Promise<Client> {
  const ws = new WebSocket(`wss://127.0.0.1:${nginx.httpsPort}${path}`, {
    ca: tls.cert,
    localAddress: CLIENT_ADDRESS,
    headers: { 'X-Forwarded-For': FORGED },
  });
  stops.push(async () => {
    ws.terminate();
  });
  const received: Client['received'] = [];
  ws.on('message', (data: Buffer, isBinary) => received.push({ data, isBinary }));
  const closed = new Promise<{ code: number; at: number }>((resolve) =>
    ws.once('close', (code) => resolve({ code, at: Date.now() })),
  );
  await new Promise<void>((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
    ws.once('unexpected-response', (_req, res) => reject(new Error(`nginx answered ${res.statusCode}`)));
  });
  return { ws, received, closed };
}

async function echoes(client: Client): Promise<void> {
  const before = client.received.length;
  const bytes = Buffer.from([0, 1, 0xfe, 0xff, 0x80]);
  client.ws.send('héllo');
  client.ws.send(bytes);
  await vi.waitFor(() => expect(client.received.length).toBe(before + 2), { timeout: 3000 });
  expect(client.received.slice(before)).toEqual([
    { data: Buffer.from('héllo'), isBinary: false },
    { data: bytes, isBinary: true },
  ]);
}

/** The raw SSE stream, then @switchyard/client on SSE only, through nginx. */
async function fallbackThrough(nginx: Nginx, seen: Seen): Promise<void> {
  const dispatcher = new Agent({ localAddress: CLIENT_ADDRESS, connect: { ca: tls.cert } });
  stops.push(() => dispatcher.close());
  const viaNginx = ((input: string, init?: RequestInit) =>
    undiciFetch(input, { ...(init as object), dispatcher })) as unknown as typeof fetch;

  // The raw stream: the open event arrives while the response is still open, with the
  // headers that keep proxies from buffering.
  const controller = new AbortController();
  const response = await viaNginx(`https://127.0.0.1:${nginx.httpsPort}/live?__sy=sse`, {
    headers: { Accept: 'text/event-stream' },
    signal: controller.signal,
  });
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
  expect(response.headers.get('x-accel-buffering')).toBeNull(); // nginx consumes it
  const reader = response.body!.getReader();
  let text = '';
  while (!text.includes('event: open')) text += Buffer.from((await reader.read()).value ?? []).toString();
  controller.abort();

  // The client, SSE only: every message goes out as a POST and comes back on the stream.
  const socket: SwitchyardSocket = connect(`https://127.0.0.1:${nginx.httpsPort}/live`, {
    transports: ['sse'],
    fetch: viaNginx,
    reconnect: false,
  });
  stops.push(async () => {
    socket.close();
  });
  const received: unknown[] = [];
  socket.addEventListener('message', (event) => received.push(event.data));
  await vi.waitFor(() => expect(socket.readyState).toBe(socket.OPEN), { timeout: 5000 });
  socket.send('over sse');
  socket.send(new Uint8Array([0, 255, 1]));
  await vi.waitFor(() => expect(received).toHaveLength(2), { timeout: 5000 });
  expect(received[0]).toBe('over sse');
  expect([...new Uint8Array(received[1] as ArrayBuffer)]).toEqual([0, 255, 1]);
  expect(seen.opens.map((o) => [o.transport, o.remoteAddress])).toEqual([
    ['sse', CLIENT_ADDRESS],
    ['sse', CLIENT_ADDRESS],
  ]);
}

/**
 * The apps are built here rather than from the harness's mounts: trusting the proxy is each
 * framework's own setting (Express `trust proxy`, Koa `app.proxy`, Fastify `trustProxy`).
 */
export function runNginx(harness: Harness): void {
  const name = harness.name as keyof typeof apps;
  describe(`${name} behind nginx (docs/deployment.md)`, () => {
    requireAssertions();
    beforeAll(async () => {
      tls = await selfSignedCert();
    });
    afterEach(stopAll);

    it('echoes text and binary over wss://, and the client address reaches ws.request.remoteAddress when the app trusts the proxy', async () => {
      const { seen, nginx } = await behindNginx(name, true);
      const client = await open(nginx, '/live?room=1');
      await echoes(client);
      expect(seen.opens).toEqual([{ path: '/live', transport: 'websocket', remoteAddress: CLIENT_ADDRESS }]);
      // Port 80 only redirects.
      const redirect = await undiciFetch(`http://127.0.0.1:${nginx.httpPort}/live`, { redirect: 'manual' });
      expect(redirect.status).toBe(301);
      expect(redirect.headers.get('location')).toBe('https://127.0.0.1/live');
    });

    it("gives the proxy's address, never the forwarded one, when the app does not trust the proxy", async () => {
      const { seen, nginx } = await behindNginx(name, false);
      await echoes(await open(nginx, '/live'));
      expect(seen.opens.map((o) => o.remoteAddress)).toEqual(['127.0.0.1']);
    });

    it('keeps a connection idle past proxy_read_timeout (2 s) alive with the heartbeat, and nginx cuts one without', async () => {
      const { nginx } = await behindNginx(name, true, '2s');
      expect(nginx.config).toContain('proxy_read_timeout 2s;');
      const started = Date.now();
      const [live, quiet] = await Promise.all([open(nginx, '/live'), open(nginx, '/quiet')]);
      const cut = await quiet.closed;
      expect(cut.code).toBe(1006);
      expect(cut.at - started).toBeGreaterThanOrEqual(1900);
      // More than twice proxy_read_timeout: nginx must not cut the connection that pings.
      await quietFor(Math.max(0, started + 4500 - Date.now()));
      expect(live.ws.readyState).toBe(WebSocket.OPEN);
      await echoes(live);
    }, 15_000);

    for (const buffering of [undefined, 'on'] as const) {
      it(`serves the SSE fallback through nginx unbuffered, with its POSTs, from the client's address${buffering ? ' (proxy_buffering on: X-Accel-Buffering alone suffices)' : ''}`, async () => {
        const { seen, nginx } = await behindNginx(name, true, undefined, buffering);
        expect(nginx.config).toContain(`proxy_buffering ${buffering ? 'on' : 'off'};`);
        await fallbackThrough(nginx, seen);
      });
    }
  });
}
