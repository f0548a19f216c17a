// The heartbeat and the idle and lifetime sweeps (src/endpoint/heartbeat.ts), on a bare node:http server
// and real ws clients over 127.0.0.1: no adapter, only core's sources.
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { WebSocket } from 'ws';
import type { CloseEvent } from '../src/connection/connection.js';
import { createEndpoint } from '../src/endpoint/endpoint.js';
import type { Handlers } from '../src/endpoint/options-types.js';
import type { EndpointOptions } from '../src/endpoint/options-types.js';
import { Sweeps } from '../src/endpoint/heartbeat.js';

const servers: Server[] = [];
const clients: WebSocket[] = [];
afterEach(async () => {
  for (const client of clients.splice(0)) client.terminate();
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

/** A core endpoint on a plain HTTP server; resolves with the port and the close events seen. */
async function serve(
  options: EndpointOptions,
  handlers: Handlers = {},
): Promise<{ port: number; closes: CloseEvent[] }> {
  const closes: CloseEvent[] = [];
  const endpoint = createEndpoint({ ...handlers, close: (_ws, event) => void closes.push(event) }, options);
  const server = createServer((req, res) => void endpoint.handle(req, res));
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as AddressInfo).port, closes };
}

async function connect(port: number, options: { autoPong?: boolean } = {}): Promise<WebSocket> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/`, options);
  clients.push(ws);
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  return ws;
}

function closeOf(ws: WebSocket): Promise<number> {
  return new Promise((resolve) => ws.once('close', (code: number) => resolve(code)));
}

describe('heartbeat', () => {
  it('pings a quiet client every interval, and keeps one that answers', async () => {
    const { port, closes } = await serve({ heartbeat: { interval: 40, timeout: 40 } });
    const ws = await connect(port);
    let pings = 0;
    ws.on('ping', () => pings++);
    await vi.waitFor(() => expect(pings).toBeGreaterThanOrEqual(4), { timeout: 3000, interval: 20 });
    expect(ws.readyState).toBe(WebSocket.OPEN);
    expect(closes).toEqual([]);
  });

  it('drops a client that never answers a ping: 1006, without a closing handshake', async () => {
    const { port, closes } = await serve({ heartbeat: { interval: 30, timeout: 60 } });
    const ws = await connect(port, { autoPong: false });
    const code = closeOf(ws);
    expect(await code).toBe(1006);
    await vi.waitFor(() => expect(closes).toEqual([{ code: 1006, reason: '', wasClean: false }]));
  });
});

describe('heartbeat: connections opened together', () => {
  it('pings each at a random moment of its first interval, not all together an interval later', async () => {
    const interval = 1000;
    const { port, closes } = await serve({ heartbeat: { interval, timeout: 1000 } });
    // Opened together, as after a restart; each records how long after its open the first ping came.
    const firsts: number[] = [];
    await Promise.all(
      Array.from({ length: 60 }, async () => {
        const ws = await connect(port);
        const opened = performance.now();
        ws.once('ping', () => firsts.push(performance.now() - opened));
      }),
    );
    await vi.waitFor(() => expect(firsts).toHaveLength(60), { timeout: 5000, interval: 20 });
    // Uniform over the interval: about half within its first half (fewer than 15 of 60 has a
    // chance of 1 in 20,000). Before, every first ping came an interval after the open.
    expect(firsts.filter((after) => after < interval / 2).length).toBeGreaterThanOrEqual(15);
    expect(Math.max(...firsts)).toBeLessThan(interval + 500);
    expect(closes).toEqual([]);
  });
});

describe('idle and lifetime sweeps', () => {
  it('closes a silent connection with 4000 after idleTimeout, and keeps a chatty one', async () => {
    const { port } = await serve({ idleTimeout: 150 }, { message: () => {} });
    const silent = await connect(port);
    const chatty = await connect(port);
    const silentClosed = closeOf(silent);
    const timer = setInterval(() => chatty.send('still here'), 30);
    try {
      expect(await silentClosed).toBe(4000);
      expect(chatty.readyState).toBe(WebSocket.OPEN);
    } finally {
      clearInterval(timer);
    }
  });

  it('closes every connection with 4001 once maxLifetime passed, busy or not', async () => {
    const { port, closes } = await serve({ maxLifetime: 120 }, { message: () => {} });
    const ws = await connect(port);
    const timer = setInterval(() => ws.send('busy'), 20);
    try {
      expect(await closeOf(ws)).toBe(4001);
    } finally {
      clearInterval(timer);
    }
    await vi.waitFor(() => expect(closes[0]).toMatchObject({ code: 4001, reason: 'Connection lifetime expired' }));
  });
});

describe('Sweeps', () => {
  it('starts each timer once, stops both, and can start again', () => {
    const set = vi.spyOn(globalThis, 'setInterval');
    const clear = vi.spyOn(globalThis, 'clearInterval');
    const sweeps = new Sweeps({
      connections: new Set(),
      options: { heartbeat: { interval: 1000, timeout: 1000 }, idleTimeout: 1000, maxLifetime: Infinity } as never,
      activityClock: 0,
    });
    sweeps.startHeartbeat();
    sweeps.startHeartbeat();
    sweeps.startLifetimes();
    sweeps.startLifetimes();
    expect(set).toHaveBeenCalledTimes(2);
    sweeps.stop();
    expect(clear).toHaveBeenCalledTimes(2);
    sweeps.startHeartbeat();
    expect(set).toHaveBeenCalledTimes(3);
    sweeps.stop();
    set.mockRestore();
    clear.mockRestore();
  });

  it('has no heartbeat timer when heartbeat is off', () => {
    const set = vi.spyOn(globalThis, 'setInterval');
    new Sweeps({
      connections: new Set(),
      options: { heartbeat: false } as never,
      activityClock: undefined,
    }).startHeartbeat();
    expect(set).not.toHaveBeenCalled();
    set.mockRestore();
  });
});
