// The heartbeat across a blocked event loop, on real sockets: a peer that answered its ping at
// once, while the process then blocked for longer than the heartbeat's timeout, is kept (its
// pong waited in the socket, unread, while the sweep's timer ran first); a peer that never
// answers is still dropped. Serial: it blocks the process on purpose, and reads the clock.
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, expect, it, vi } from 'vitest';
import { WebSocket } from 'ws';
import type { CloseEvent } from '../src/connection/connection.js';
import { createEndpoint } from '../src/endpoint/endpoint.js';

const servers: Server[] = [];
const clients: WebSocket[] = [];
afterEach(async () => {
  for (const client of clients.splice(0)) client.terminate();
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

const INTERVAL = 300;
const TIMEOUT = 150;

async function serve(): Promise<{ port: number; closes: CloseEvent[] }> {
  const closes: CloseEvent[] = [];
  const endpoint = createEndpoint(
    { close: (_ws, event) => void closes.push(event) },
    { heartbeat: { interval: INTERVAL, timeout: TIMEOUT } },
  );
  const server = createServer((req, res) => void endpoint.handle(req, res));
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as AddressInfo).port, closes };
}

async function connect(port: number, autoPong = true): Promise<WebSocket> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/`, { autoPong });
  clients.push(ws);
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  return ws;
}

/** Holds the whole process (server and client) for `ms`: a long synchronous task. */
function block(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // busy
  }
}

it('a peer that answered at once is kept though the process then blocked for 4 timeouts; a silent one is still dropped', async () => {
  const { port, closes } = await serve();
  const live = await connect(port);
  const silent = await connect(port, false);
  let pings = 0;
  let closed = false;
  live.on('close', () => {
    closed = true;
  });
  live.on('ping', () => {
    // ws has already written the pong; the server reads it only after the block.
    if (++pings === 1) block(4 * TIMEOUT);
  });
  await vi.waitFor(() => expect(pings).toBeGreaterThanOrEqual(3), { timeout: 10 * INTERVAL + 5000 });
  expect(closed).toBe(false);
  expect(live.readyState).toBe(WebSocket.OPEN);
  // The silent peer went meanwhile, as the heartbeat promises.
  await vi.waitFor(() => expect(silent.readyState).toBe(WebSocket.CLOSED), { timeout: 5000 });
  expect(closes.map((event) => event.code)).toEqual([1006]);
});
