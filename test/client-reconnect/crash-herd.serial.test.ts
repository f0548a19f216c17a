/**
 * The crash herd of issue 24, in small: a node's sockets are all destroyed at once (a SIGKILL:
 * every client gets 1006, which the spread window of 1001/1012/1013 does not cover) and its port
 * refuses connections until it listens again, 600 ms later. 300 clients with `recover`
 * (`initialDelay` 2 s) come back to a node that serves one `upgrade` hook at a time (3 ms each)
 * and sheds beyond 150 handshakes in progress (503 + Retry-After). With the backoff's full jitter
 * they arrive spread, so the node keeps up: about one TCP connection per client (1.00–1.02 in
 * runs at load 9–15), and every message published before, during and after arrives once, in
 * order. Without jitter they arrive together, the node sheds about half of them, and those come
 * back together again: the second case runs the same crash with `jitter: 0` and shows that it
 * costs the node more (1.25–1.36 connections per client in the same runs), so the first case's
 * bound can fail.
 */
import type { Socket } from 'node:net';
import type { Connection } from '@switchyard/core';
import { connect } from '@switchyard/client';
import type { SwitchyardSocket, WebSocketConstructor } from '@switchyard/client';
import { redisHub } from '@switchyard/redis';
import type { RedisHub } from '@switchyard/redis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import { RedisServer } from '../../packages/redis/test/redis-server.js';
import { expressHarness } from '../adapters.js';
import { start } from '../harness.js';
import { delay, requireAssertions } from '../helpers.js';

const N = 300;
const COST = 3;
const DOWN = 600;
const report = (line: string): void => {
  if (process.env.SWITCHYARD_REPORT) console.info(`[crash-herd] ${line}`);
};

let redis: RedisServer;
beforeAll(async () => {
  redis = await RedisServer.start();
});
afterAll(async () => {
  await redis.stop();
});

interface Outcome {
  /** TCP connections the node accepted after it listened again, per client. */
  perClient: number;
  tookMs: number;
}

/** Connects N clients, crashes the node, brings it back DOWN ms later; what the herd cost. */
async function crash(run: string, jitter: number): Promise<Outcome> {
  const hub: RedisHub = redisHub({ url: redis.url, prefix: `crash-herd:${run}:`, durable: { maxLen: 10_000, ttl: 0 } });
  hub.on('error', () => {});
  await hub.ready();
  const live = new Set<Connection>();
  let busy = false;
  let queue: Promise<void> = Promise.resolve();
  const started = await start(expressHarness, [
    {
      path: '/feed',
      handlers: {
        heartbeat: false,
        hub,
        maxPendingHandshakes: 150,
        recovery: { maxDisconnectionDuration: 30_000 },
        async upgrade() {
          if (!busy) return;
          const turn = queue.then(() => delay(COST));
          queue = turn;
          await turn;
        },
        open(ws) {
          live.add(ws);
          ws.subscribe('feed');
        },
        close(ws) {
          live.delete(ws);
        },
      },
    },
  ]);
  const { server, port } = started;
  const sockets = new Set<Socket>();
  let connections = 0;
  server.on('connection', (socket: Socket) => {
    connections++;
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  const clients: SwitchyardSocket[] = [];
  let errors = 0;
  const closes = new Map<number, number>();
  const received: string[][] = [];
  try {
    for (let i = 0; i < N; i++) {
      const client = connect(started.url('/feed'), {
        WebSocket: WebSocket as unknown as WebSocketConstructor,
        transports: ['websocket'],
        recover: true,
        livenessTimeout: 5000,
        reconnect: { jitter, initialDelay: 2000 },
      });
      const mine: string[] = [];
      client.addEventListener('message', (event) => mine.push(String(event.data)));
      client.addEventListener('error', () => errors++);
      client.addEventListener('close', (event) => closes.set(event.code, (closes.get(event.code) ?? 0) + 1));
      clients.push(client);
      received.push(mine);
      if (clients.length % 25 === 0)
        await vi.waitFor(() => expect(clients.filter((c) => c.resumable)).toHaveLength(clients.length), {
          timeout: 15_000,
          interval: 20,
        });
    }
    let published = 0;
    const publish = async (count: number) => {
      for (let i = 0; i < count; i++) await hub.publish('feed', String(published++));
    };
    await publish(10);
    await vi.waitFor(() => expect(received.filter((mine) => mine.length === 10)).toHaveLength(N), { timeout: 10_000 });
    busy = true;
    const crashedAt = Date.now();
    // The crash: no close frames, every socket gone at once, the port closed.
    server.close();
    for (const socket of sockets) socket.destroy();
    await publish(10);
    await delay(DOWN);
    const before = connections;
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    await publish(10);
    await vi.waitFor(() => expect(clients.filter((c) => c.readyState === c.OPEN && c.recovered)).toHaveLength(N), {
      timeout: 30_000,
      interval: 50,
    });
    const tookMs = Date.now() - crashedAt;
    busy = false;
    await publish(10);
    const expected = Array.from({ length: published }, (_, i) => String(i));
    await vi.waitFor(() => expect(received.filter((mine) => mine.length >= published)).toHaveLength(N), {
      timeout: 10_000,
      interval: 50,
    });
    // Exactly once and in order, for every client.
    for (const mine of received) expect(mine).toEqual(expected);
    report(`failed attempts ${errors}, closes ${JSON.stringify([...closes])}`);
    return { perClient: (connections - before) / N, tookMs };
  } finally {
    busy = false;
    for (const client of clients) client.close();
    server.closeAllConnections?.();
    await new Promise((resolve) => server.close(resolve));
    await hub.close();
  }
}

describe('@switchyard/client: a herd of resuming clients after a crash (1006, port refused meanwhile)', () => {
  requireAssertions();

  it(`${N} clients, full jitter: about one connection each, nothing lost or repeated`, async () => {
    const outcome = await crash('jitter', 1);
    report(`full jitter: ${JSON.stringify(outcome)}`);
    expect(outcome.perClient).toBeLessThanOrEqual(1.1);
  }, 90_000);

  it(`the same crash without jitter costs the node far more: the bound above can fail`, async () => {
    const outcome = await crash('no-jitter', 0);
    report(`no jitter: ${JSON.stringify(outcome)}`);
    expect(outcome.perClient).toBeGreaterThan(1.2);
  }, 90_000);
});
