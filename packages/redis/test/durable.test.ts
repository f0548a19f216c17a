/**
 * Streams mode (`durable`): a real redis-server with an append-only file fsynced on every write,
 * real Express nodes with their own Redis connections, real WebSocket clients.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join as joinPath } from 'node:path';
import express from 'express';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type WebSocket from 'ws';
import * as wsModule from 'ws';
import { websocket } from '@switchyard/express';
import type { HubOutage } from '@switchyard/core';
import { type RedisHub, redisHub } from '@switchyard/redis';
import type { DurableOptions } from '@switchyard/redis';
import { delay, messages, openWs } from '../../../test/helpers.js';
import { RedisServer } from './redis-server.js';

let redis: RedisServer;
let dir: string;
beforeAll(async () => {
  dir = mkdtempSync(joinPath(tmpdir(), 'sy-aof-'));
  redis = await RedisServer.start({ aofDir: dir });
});
afterAll(async () => {
  await redis.stop();
  rmSync(dir, { recursive: true, force: true });
});

const servers: http.Server[] = [];
const clients: WebSocket[] = [];
const hubs: RedisHub[] = [];
afterEach(async () => {
  for (const client of clients.splice(0)) client.terminate();
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    server.close();
  }
  await Promise.all(hubs.splice(0).map((hub) => hub.close()));
  vi.restoreAllMocks();
});

let prefixes = 0;
interface Node {
  hub: RedisHub;
  url(path: string): string;
  errors: Error[];
  recoveries: HubOutage[];
}

/** One node: an Express app and its own durable hub; `prefix` is shared by the nodes of one test. */
async function node(prefix: string, durable: DurableOptions = {}): Promise<Node> {
  const hub = redisHub({ url: redis.url, prefix, durable });
  const errors: Error[] = [];
  const recoveries: HubOutage[] = [];
  hub.on('error', (error) => errors.push(error));
  hub.on('recovered', (outage) => recoveries.push(outage));
  hubs.push(hub);
  await hub.ready();
  const app = express();
  app.use(
    '/room',
    websocket({
      hub,
      heartbeat: false,
      open(ws) {
        ws.subscribe(String(ws.request.query.topic ?? 'lobby'));
      },
      message(ws, data) {
        for (const topic of ws.topics) void ws.publish(topic, data);
      },
    }),
  );
  const server = http.createServer(app);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { hub, url: (path) => `ws://127.0.0.1:${port}${path}`, errors, recoveries };
}

async function join(n: Node, path = '/room'): Promise<WebSocket> {
  const ws = await openWs(n.url(path));
  clients.push(ws);
  return ws;
}

const fresh = (): string => `durable${prefixes++}:`;

describe('redis hub, streams mode', () => {
  it('delivers across nodes in one order, never back to the sender, framed once per node', async () => {
    const prefix = fresh();
    const [a, b] = [await node(prefix), await node(prefix)];
    const sender = await join(a);
    const local = await join(a);
    const remote = await Promise.all(Array.from({ length: 20 }, () => join(b)));
    await vi.waitFor(() => expect([a.hub.subscriberCount('lobby'), b.hub.subscriberCount('lobby')]).toEqual([2, 20]));
    await Promise.all([a.hub.whenSubscribed('lobby'), b.hub.whenSubscribed('lobby')]);
    const spy = vi.spyOn((wsModule as unknown as { Sender: { frame(...args: unknown[]): unknown } }).Sender, 'frame');
    for (let i = 0; i < 50; i++) sender.send(`m${i}`);
    void b.hub.publish('lobby', Buffer.from([0, 255]));
    const expected = Array.from({ length: 50 }, (_, i) => `m${i}`);
    const seen = (ws: WebSocket): string[] =>
      messages(ws).all.map((m) => (m.isBinary ? [...m.data].join(',') : m.data.toString()));
    await vi.waitFor(() => expect(seen(local).length).toBe(51), { timeout: 5000 });
    // One order for everyone, the stream's: the sender's 50 in its order, the hub's publish somewhere among them.
    expect(seen(local).filter((m) => m !== '0,255')).toEqual(expected);
    for (const ws of remote) {
      await vi.waitFor(() => expect(messages(ws).all.length).toBe(51), { timeout: 5000 });
      expect(seen(ws)).toEqual(seen(local));
    }
    // 51 messages on 2 nodes: one framing per message per node, not per subscriber (22 of
    // them), plus the 50 frames the test's own client sent from this process.
    expect(spy.mock.calls.length).toBe(51 * 2 + 50);
    await delay(200);
    // The sender got only the hub's publish, none of its own 50.
    expect(messages(sender).all.map((m) => [m.isBinary, [...m.data].join(',')])).toEqual([[true, '0,255']]);
  });

  it('trims by length (MAXLEN ~) and keeps the stream and epoch keys', async () => {
    const prefix = fresh();
    const a = await node(prefix, { maxLen: 10, ttl: 0 });
    for (let i = 0; i < 500; i++) await a.hub.publish('trimmed', String(i));
    const { createClient } = await import('redis');
    const client = createClient({ url: redis.url });
    await client.connect();
    const length = await client.xLen(`${prefix}stream:trimmed`);
    const meta = await client.hGetAll(`${prefix}meta:trimmed`);
    await client.close();
    // Approximate trimming keeps whole macro-nodes: at most about 100 over maxLen.
    expect(length).toBeGreaterThanOrEqual(10);
    expect(length).toBeLessThan(250);
    expect(meta.n).toBe('500');
    expect(meta.epoch).toMatch(/^[\w-]{8}$/);
  });

  it('trims by age (MINID ~ from ttl)', async () => {
    const prefix = fresh();
    const a = await node(prefix, { maxLen: 100_000, ttl: 300 });
    for (let i = 0; i < 300; i++) await a.hub.publish('aged', String(i));
    await delay(500);
    await a.hub.publish('aged', 'late');
    const { createClient } = await import('redis');
    const client = createClient({ url: redis.url });
    await client.connect();
    const length = await client.xLen(`${prefix}stream:aged`);
    await client.close();
    expect(length).toBeLessThan(150);
  });

  it('rejects bad durable settings with a TypeError', () => {
    expect(() => redisHub({ durable: { maxLen: 0 } })).toThrow('"durable.maxLen" must be a positive integer');
    expect(() => redisHub({ durable: { ttl: -1 } })).toThrow('"durable.ttl"');
    expect(() => redisHub({ durable: { maxlen: 5 } as never })).toThrow('unknown option "durable.maxlen"');
  });

  it('against a SIGKILLed redis-server (AOF, appendfsync always): nothing acknowledged is lost, nothing is duplicated, in order', async () => {
    const prefix = fresh();
    const [a, b] = [await node(prefix), await node(prefix)];
    const receivers = [await join(b, '/room?topic=steady'), await join(b, '/room?topic=steady')];
    await vi.waitFor(() => expect(b.hub.subscriberCount('steady')).toBe(2));
    await b.hub.whenSubscribed('steady');
    const outcomes: Array<{ i: number; result?: 'ok' | 'rejected' }> = [];
    let stop = false;
    const publishing = (async () => {
      for (let i = 0; !stop; i++) {
        const outcome: (typeof outcomes)[number] = { i };
        outcomes.push(outcome);
        a.hub.publish('steady', String(i)).then(
          () => {
            outcome.result = 'ok';
          },
          () => {
            outcome.result = 'rejected';
          },
        );
        await delay(2);
      }
    })();
    await delay(400);
    await redis.stop();
    await delay(500);
    await redis.restart();
    await vi.waitFor(() => expect([a.recoveries.length, b.recoveries.length]).toEqual([1, 1]), {
      timeout: 10_000,
      interval: 20,
    });
    await delay(400);
    stop = true;
    await publishing;
    await vi.waitFor(() => expect(outcomes.every((o) => o.result !== undefined)).toBe(true), { timeout: 5000 });
    const acknowledged = outcomes.filter((o) => o.result === 'ok').map((o) => o.i);
    const rejected = outcomes.filter((o) => o.result === 'rejected').map((o) => o.i);
    expect(rejected.length).toBeGreaterThan(20);
    for (const ws of receivers) {
      await vi.waitFor(
        () => {
          const got = new Set(messages(ws).all.map((m) => Number(m.data.toString())));
          expect(acknowledged.filter((i) => !got.has(i))).toEqual([]);
        },
        { timeout: 5000 },
      );
      const got = messages(ws).all.map((m) => Number(m.data.toString()));
      // In order and once: strictly increasing.
      expect(got.every((value, k) => k === 0 || value > got[k - 1]!)).toBe(true);
      // A rejected publish is delivered only if Redis persisted it before it died (the reply was lost).
      const extra = got.filter((i) => !acknowledged.includes(i));
      expect(extra.every((i) => rejected.includes(i))).toBe(true);
      // Only the few in flight at the kill can be in that case.
      expect(extra.length).toBeLessThan(10);
      if (process.env.SWITCHYARD_REPORT_MEMORY || process.env.SWITCHYARD_REPORT) {
        console.info(
          `[durable] ${outcomes.length} publishes, ${acknowledged.length} acknowledged, ${rejected.length} rejected, ${got.length} delivered, 0 lost, 0 duplicated, ${extra.length} persisted-but-rejected`,
        );
      }
    }
  }, 40_000);
});
