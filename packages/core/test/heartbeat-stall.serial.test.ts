// The heartbeat and the idle sweep across a blocked event loop, on real sockets: a peer that
// answered its ping at once, while the process then blocked for longer than the heartbeat's
// timeout, is kept (its pong waited in the socket, unread, while the sweep's timer ran first); a
// client that kept sending through a block longer than idleTimeout is not closed as idle; a peer
// that never answers, and one that sends nothing, still go. Serial: it blocks the process on
// purpose, and reads the clock.
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
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

it('a client that kept sending while the server blocked for twice the idle timeout is not closed as idle; one that went quiet is', async () => {
  const IDLE = 400;
  const closes: number[] = [];
  const opened: number[] = [];
  const endpoint = createEndpoint(
    { open: () => void opened.push(Date.now()), close: (_ws, event) => void closes.push(event.code) },
    { heartbeat: false, idleTimeout: IDLE },
  );
  const server = createServer((req, res) => void endpoint.handle(req, res));
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  // The client runs in a process of its own, so that it goes on sending while this one blocks.
  const wsPath = createRequire(import.meta.url).resolve('ws');
  const child = spawn(
    process.execPath,
    [
      '-e',
      `const WebSocket = require(${JSON.stringify(wsPath)});
       const ws = new WebSocket('ws://127.0.0.1:${port}/');
       ws.on('open', () => setInterval(() => ws.send('x'), 50));
       ws.on('close', (code) => { console.log('closed ' + code); process.exit(0); });`,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  try {
    await vi.waitFor(() => expect(opened).toHaveLength(1), { timeout: 5000 });
    await new Promise((resolve) => setTimeout(resolve, 2 * IDLE));
    block(2 * IDLE);
    await new Promise((resolve) => setTimeout(resolve, 2 * IDLE));
    expect(closes).toEqual([]);
    // A quiet one still goes: this process's own client, which sends nothing.
    const quiet = await connect(port);
    const code = await new Promise<number>((resolve) => quiet.once('close', resolve));
    expect(code).toBe(4000);
    await vi.waitFor(() => expect(closes).toEqual([4000]));
  } finally {
    child.kill();
  }
});
