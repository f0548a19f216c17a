/**
 * A mass resume of one topic on one node (issue 24): N clients, each cut at a different point of
 * the stream, come back at once (their handshakes wait in the `upgrade` hook until the test lets
 * them all through). Every client gets every message once, in order, and the Redis commands the
 * resumes cost are counted on a real redis-server (INFO commandstats): the replay's XRANGE pages
 * and the position scripts are shared across the resumes of the topic instead of paid per client.
 * Unshared, they would be Σ ceil(gap / 200) XRANGE and N position scripts. Express only: the
 * sharing is core's and the store's, the same behind every adapter.
 */
import { execFile } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import { connect } from '@switchyard/client';
import type { SwitchyardSocket, WebSocketConstructor } from '@switchyard/client';
import type { Connection } from '@switchyard/core';
import { websocket } from '@switchyard/express';
import { redisHub } from '@switchyard/redis';
import type { RedisHub } from '@switchyard/redis';
import { RedisServer } from '../packages/redis/test/redis-server.js';
import { requireAssertions } from './helpers.js';

const run = promisify(execFile);
const report = (line: string): void => {
  if (process.env.SWITCHYARD_REPORT) console.info(`[shared-reads] ${line}`);
};
/** Clients resuming at once; SWITCHYARD_RESUME_CLIENTS raises it for the figures in docs/redis.md. */
const CLIENTS = Number(process.env.SWITCHYARD_RESUME_CLIENTS ?? 200);
/** Messages published while the clients are cut one by one, so that their gaps differ (80 to 480 for any N). */
const SPREAD = 400;
const TAIL = 80;
/** Core's replay page (recovery/replay.ts). */
const PAGE = 200;

let redis: RedisServer;
let hub: RedisHub;
let server: http.Server;
let port: number;
const live: Connection<any, any, any>[] = [];
let gate: Promise<void> = Promise.resolve();

/** The calls of each Redis command since the last reset. */
async function commandCounts(): Promise<Record<string, number>> {
  const { stdout } = await run('redis-cli', ['-p', String(redis.port), 'INFO', 'commandstats']);
  const counts: Record<string, number> = {};
  for (const match of stdout.matchAll(/^cmdstat_([\w|]+):calls=(\d+)/gm)) counts[match[1]!] = Number(match[2]);
  return counts;
}

beforeAll(async () => {
  redis = await RedisServer.start();
  hub = redisHub({ url: redis.url, prefix: 'shared-reads:', durable: { maxLen: 100_000, ttl: 0 } });
  hub.on('error', () => {});
  await hub.ready();
  const app = express();
  app.use(
    '/feed',
    websocket({
      hub,
      heartbeat: false,
      recovery: { maxDisconnectionDuration: 60_000 },
      async upgrade() {
        await gate;
      },
      open(ws) {
        live.push(ws);
        ws.subscribe('feed');
      },
    }),
  );
  server = http.createServer(app);
  await new Promise<void>((resolve) => server.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, resolve));
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  await hub.close();
  await redis.stop();
});

describe(`a mass resume of one topic shares its Redis reads (${CLIENTS} clients)`, () => {
  requireAssertions();

  it(
    'every client gets every message once and in order; the replay costs a few XRANGE pages and position scripts, not N',
    async () => {
      const clients: Array<{ socket: SwitchyardSocket; numbers: number[] }> = [];
      try {
        for (let i = 0; i < CLIENTS; i++) {
          const socket = connect(`ws://127.0.0.1:${port}/feed`, {
            WebSocket: WebSocket as unknown as WebSocketConstructor,
            transports: ['websocket'],
            recover: true,
            livenessTimeout: 60_000,
            reconnect: { initialDelay: 10, maxDelay: 50, jitter: 0 },
          });
          const numbers: number[] = [];
          socket.addEventListener('message', (event) => numbers.push(Number(event.data)));
          clients.push({ socket, numbers });
        }
        await vi.waitFor(() => expect(live.length).toBe(CLIENTS), { timeout: 20_000 + CLIENTS * 20 });
        report(`${CLIENTS} connected`);
        await vi.waitFor(async () => {
          // Subscribed: a message published now reaches every client.
          expect(hub.subscriberCount('feed')).toBe(CLIENTS);
        });

        // Cut the clients one by one while the stream grows by SPREAD messages, then TAIL more:
        // each misses from 80 to 480 messages. None gets back in until the gate opens.
        let release!: () => void;
        gate = new Promise<void>((resolve) => {
          release = resolve;
        });
        let published = 0;
        for (const [i, connection] of live.splice(0).entries()) {
          while (published < Math.floor((i * SPREAD) / CLIENTS)) await hub.publish('feed', String(published++));
          connection.terminate();
        }
        while (published < SPREAD) await hub.publish('feed', String(published++));
        for (let k = 0; k < TAIL; k++) await hub.publish('feed', String(published++));
        report(`${published} published, every client cut`);
        const gaps = clients.map(({ numbers }) => published - numbers.length);
        // What the same resumes cost unshared: a page per 200 missed entries each, and a position script each.
        const unsharedPages = gaps.reduce((sum, gap) => sum + Math.ceil(gap / PAGE), 0);

        // Every client's handshake waits in the hook now: let them all through at once.
        await vi.waitFor(() => expect(clients.every(({ socket }) => socket.readyState !== socket.OPEN)).toBe(true));
        await run('redis-cli', ['-p', String(redis.port), 'CONFIG', 'RESETSTAT']);
        const started = performance.now();
        release();
        await vi
          .waitFor(() => expect(clients.every(({ numbers }) => numbers.length >= published)).toBe(true), {
            timeout: 60_000 + CLIENTS * 60,
            interval: 50,
          })
          .catch((error: unknown) => {
            const behind = clients.filter(({ numbers }) => numbers.length < published);
            report(
              `${behind.length} behind: ${behind
                .slice(0, 5)
                .map(({ numbers, socket }) => `${numbers.length}/${published} state ${socket.readyState}`)
                .join(', ')}`,
            );
            throw error;
          });
        const took = performance.now() - started;
        const counts = await commandCounts();

        const expected = Array.from({ length: published }, (_, n) => n);
        for (const { numbers } of clients) expect(numbers).toEqual(expected);
        // The position script reads one XRANGE entry itself (and is the only XINFO caller).
        const scripts = counts['xinfo|stream'] ?? counts.xinfo ?? 0;
        const pages = (counts.xrange ?? 0) - scripts;
        const figures = {
          clients: CLIENTS,
          gaps: `${Math.min(...gaps)}-${Math.max(...gaps)}`,
          unsharedPages,
          pages,
          unsharedScripts: CLIENTS,
          scripts,
          get: counts.get ?? 0,
          set: counts.set ?? 0,
          ms: Math.round(took),
        };
        if (process.env.SWITCHYARD_REPORT)
          console.info('[shared-reads]', JSON.stringify(figures), JSON.stringify(counts));
        expect(pages).toBeGreaterThan(0);
        expect(pages).toBeLessThanOrEqual(Math.ceil(unsharedPages / 10));
        expect(scripts).toBeLessThan(CLIENTS);
      } finally {
        gate = Promise.resolve();
        for (const { socket } of clients) socket.close();
      }
    },
    90_000 + CLIENTS * 200,
  );
});
