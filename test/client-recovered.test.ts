/**
 * `socket.recovered` in the client's `open` handler (issue 26, point 7): with `recover`, `open`
 * waits for the server's session frame, so a handler reads whether this connection resumed, and
 * what arrived before that frame (the server's `open` hook's sends) follows `open`. Real servers:
 * Express with a durable Redis hub, the ws client and fetch, and a TCP proxy that cuts the link.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import { connect } from '@switchyard/client';
import type { SwitchyardSocket, WebSocketConstructor } from '@switchyard/client';
import { websocket } from '@switchyard/express';
import { redisHub } from '@switchyard/redis';
import type { RedisHub } from '@switchyard/redis';
import { RedisServer } from '../packages/redis/test/redis-server.js';
import { TcpProxy } from './proxy.js';

let redis: RedisServer;
let hub: RedisHub;
let server: http.Server;
let port: number;
const sockets: SwitchyardSocket[] = [];
const proxies: TcpProxy[] = [];

beforeAll(async () => {
  redis = await RedisServer.start();
  hub = redisHub({ url: redis.url, prefix: 'recovered-open:', durable: { maxLen: 1000, ttl: 0 } });
  hub.on('error', () => {});
  await hub.ready();
  const app = express();
  const hello = {
    heartbeat: false as const,
    open(ws: { send(data: string): void; recovered: boolean; subscribe(topic: string): void }) {
      ws.send(`hello:${ws.recovered}`);
      ws.subscribe('feed');
    },
  };
  app.use('/feed', websocket({ ...hello, hub, recovery: { maxDisconnectionDuration: 10_000 } }));
  // recover: true against an endpoint without recovery: no session frame ever comes.
  app.use('/plain', websocket(hello));
  server = http.createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});

afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.close();
  await Promise.all(proxies.splice(0).map((proxy) => proxy.close()));
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  await hub.close();
  await redis.stop();
});

/** A client through a proxy, recording `recovered` in each `open` and every event in order. */
async function client(path: string, transport: 'websocket' | 'sse', livenessTimeout?: number) {
  const proxy = await TcpProxy.start(port, 'pass');
  proxies.push(proxy);
  const socket = connect(proxy.url(path), {
    WebSocket: WebSocket as unknown as WebSocketConstructor,
    transports: [transport],
    recover: true,
    reconnect: { initialDelay: 50, maxDelay: 200, jitter: 0 },
    ...(livenessTimeout ? { livenessTimeout } : {}),
  });
  sockets.push(socket);
  const events: string[] = [];
  socket.addEventListener('open', () => events.push(`open recovered=${socket.recovered}`));
  socket.addEventListener('message', (event) => events.push(String(event.data)));
  socket.addEventListener('close', () => events.push('close'));
  return { socket, proxy, events };
}

describe('@switchyard/client: recovered is valid in open', () => {
  it("websocket: false in the first open, true in the open of a connection that resumed, each before the server's hello", async () => {
    const c = await client('/feed', 'websocket');
    await vi.waitFor(() => expect(c.events).toContain('hello:false'), { timeout: 5000 });
    expect(c.events).toEqual(['open recovered=false', 'hello:false']);
    await hub.publish('feed', 'while connected');
    await vi.waitFor(() => expect(c.events).toContain('while connected'), { timeout: 5000 });
    c.proxy.cut();
    await vi.waitFor(() => expect(c.events).toContain('hello:true'), { timeout: 8000 });
    // The open of the resumed connection saw recovered === true, and came before its messages.
    const second = c.events.indexOf('open recovered=true');
    expect(second).toBeGreaterThan(-1);
    expect(second).toBeLessThan(c.events.indexOf('hello:true'));
    expect(c.events.filter((event) => event.startsWith('open'))).toEqual([
      'open recovered=false',
      'open recovered=true',
    ]);
    expect(c.socket.recovered).toBe(true);
  }, 20_000);

  // The SSE transport resumes a cut stream inside its own session, with no second open; its first
  // open goes through the same wait for the session frame.
  it("sse: the first open, recovered false, comes before the server's hello, and the socket is resumable in it", async () => {
    const c = await client('/feed', 'sse');
    let resumableInOpen: boolean | undefined;
    c.socket.addEventListener('open', () => {
      resumableInOpen = c.socket.resumable;
    });
    await vi.waitFor(() => expect(c.events).toContain('hello:false'), { timeout: 5000 });
    expect(c.events).toEqual(['open recovered=false', 'hello:false']);
    expect(resumableInOpen).toBe(true);
  });

  it('an endpoint without recovery sends no session frame: open comes after livenessTimeout, recovered false', async () => {
    const started = Date.now();
    const c = await client('/plain', 'websocket', 400);
    c.socket.send('queued before open');
    await vi.waitFor(() => expect(c.events).toContain('hello:false'), { timeout: 5000 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(350);
    expect(c.events.slice(0, 2)).toEqual(['open recovered=false', 'hello:false']);
    expect(c.socket.readyState).toBe(c.socket.OPEN);
  });
});
