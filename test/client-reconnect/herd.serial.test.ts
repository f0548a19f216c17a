/**
 * The herd of issue 24, in small: 300 clients with `recover` on a durable Redis hub, closed at
 * once by a restart (1012), come back to a node that serves one handshake at a time (8 ms each, so
 * about 2.4 s of handshakes queue up, beyond the clients' livenessTimeout). Each client costs the
 * node one handshake, and every message published before, during and after the herd arrives once,
 * in order. A client that abandoned slow handshakes at livenessTimeout would cost more.
 */
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
import type { Started } from '../harness.js';
import { delay, requireAssertions } from '../helpers.js';

const N = 300;
const COST = 8;
const report = (line: string): void => {
  if (process.env.SWITCHYARD_REPORT) console.info(`[herd] ${line}`);
};

let redis: RedisServer;
let hub: RedisHub;
let started: Started;
const live = new Set<Connection>();
let handshakes = 0;
/** While true, handshakes go through one at a time, COST ms each: a node busy with a herd. */
let busy = false;
let queue: Promise<void> = Promise.resolve();

beforeAll(async () => {
  redis = await RedisServer.start();
  hub = redisHub({ url: redis.url, prefix: 'herd:', durable: { maxLen: 10_000, ttl: 0 } });
  hub.on('error', () => {});
  await hub.ready();
  started = await start(expressHarness, [
    {
      path: '/feed',
      handlers: {
        heartbeat: false,
        hub,
        recovery: { maxDisconnectionDuration: 30_000 },
        async upgrade() {
          handshakes++;
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
});

afterAll(async () => {
  await started.close();
  await hub.close();
  await redis.stop();
});

describe('@switchyard/client: a herd of resuming clients after a restart', () => {
  requireAssertions();

  it(`${N} clients with recover, closed with 1012: one handshake each, nothing lost or repeated`, async () => {
    const sockets: SwitchyardSocket[] = [];
    let errors = 0;
    const closes = new Map<string, number>();
    const received: string[][] = [];
    try {
      // Connected 25 at a time: only the herd is under test, not a first contact.
      for (let i = 0; i < N; i++) {
        const socket = connect(started.url('/feed'), {
          WebSocket: WebSocket as unknown as WebSocketConstructor,
          recover: true,
          livenessTimeout: 1000,
          reconnect: { spread: 1500 },
        });
        const mine: string[] = [];
        socket.addEventListener('message', (event) => mine.push(String(event.data)));
        socket.addEventListener('error', () => {
          errors++;
        });
        socket.addEventListener('close', (e) => {
          closes.set(`${e.code} ${e.reason}`, (closes.get(`${e.code} ${e.reason}`) ?? 0) + 1);
        });
        sockets.push(socket);
        received.push(mine);
        if (sockets.length % 25 === 0)
          await vi.waitFor(() => expect(sockets.filter((s) => s.resumable)).toHaveLength(sockets.length), {
            timeout: 15_000,
            interval: 20,
          });
      }
      expect(sockets.every((s) => s.transport === 'websocket')).toBe(true);
      report(`before the herd: errors ${errors}`);
      let published = 0;
      const publish = async (count: number) => {
        for (let i = 0; i < count; i++) await hub.publish('feed', String(published++));
      };
      await publish(10);
      const before = handshakes;
      busy = true;
      const closedAt = Date.now();
      for (const ws of live) ws.close(1012, 'restart');
      // Published while they are away, and while they come back.
      await publish(20);
      await delay(500);
      await publish(20);
      await vi.waitFor(() => expect(sockets.filter((s) => s.readyState === s.OPEN && s.recovered)).toHaveLength(N), {
        timeout: 20_000,
        interval: 50,
      });
      const tookMs = Date.now() - closedAt;
      busy = false;
      await publish(10);
      const expected = Array.from({ length: published }, (_, i) => String(i));
      await vi.waitFor(() => expect(received.filter((mine) => mine.length >= published)).toHaveLength(N), {
        timeout: 10_000,
        interval: 50,
      });
      const perClient = (handshakes - before) / N;
      report(`errors ${errors} closes ${JSON.stringify([...closes])}`);
      report(`${N} clients back in ${tookMs} ms, ${perClient.toFixed(3)} handshakes per client`);
      // Exactly once and in order, for every client.
      for (const mine of received) expect(mine).toEqual(expected);
      expect(perClient).toBeLessThanOrEqual(1.02);
    } finally {
      busy = false;
      for (const socket of sockets) socket.close();
    }
  }, 60_000);
});
