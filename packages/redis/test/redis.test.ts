import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { createClient } from 'redis';
import { afterAll, afterEach, beforeAll, describe, expect, expectTypeOf, it, vi } from 'vitest';
import type WebSocket from 'ws';
import { websocket } from '@switchyard/express';
import { Inbox } from '@switchyard/core/internal';
import type { HubOutage } from '@switchyard/core';
import { type RedisHub, RedisUnreachableError, redisHub } from '@switchyard/redis';
import { runHubSuite } from '../../../test/hub-suite.js';
import { delay, messages, openWs, quietFor } from '../../../test/helpers.js';
import { RedisServer } from './redis-server.js';

let redis: RedisServer;
beforeAll(async () => {
  redis = await RedisServer.start();
});
afterAll(async () => {
  await redis.stop();
});

const hubs: RedisHub[] = [];
runHubSuite({
  name: 'redis',
  async create() {
    const hub = redisHub({ url: redis.url });
    hubs.push(hub);
    await hub.ready();
    return hub;
  },
  async cleanup() {
    await Promise.all(hubs.splice(0).map((hub) => hub.close()));
  },
  settle: 100,
});

// Streams mode (durable topics) passes the same suite; only its ordering promise is weaker.
const durableHubs: RedisHub[] = [];
let durableRound = 0;
runHubSuite({
  name: 'redis durable',
  async create() {
    const hub = redisHub({ url: redis.url, durable: true, prefix: `durable${durableRound}:` });
    durableHubs.push(hub);
    await hub.ready();
    return hub;
  },
  async cleanup() {
    await Promise.all(durableHubs.splice(0).map((hub) => hub.close()));
    // Each test's streams are its own.
    durableRound++;
  },
  settle: 150,
  orderedWithDirectSends: false,
});

describe('redis hub across nodes', () => {
  const servers: http.Server[] = [];
  const clients: WebSocket[] = [];
  const nodeHubs: RedisHub[] = [];
  afterEach(async () => {
    for (const client of clients.splice(0)) client.terminate();
    for (const server of servers.splice(0)) {
      server.closeAllConnections();
      server.close();
    }
    await Promise.all(nodeHubs.splice(0).map((hub) => hub.close()));
  });

  /** One "node": an Express app with its own Redis connections. */
  async function node(): Promise<{ hub: RedisHub; url: string }> {
    const hub = redisHub({ url: redis.url, prefix: 'test:' });
    hub.on('error', () => {});
    nodeHubs.push(hub);
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
    return { hub, url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}/room` };
  }

  async function join(url: string): Promise<WebSocket> {
    const ws = await openWs(url);
    clients.push(ws);
    return ws;
  }

  async function channels(): Promise<string[]> {
    const client = createClient({ url: redis.url });
    await client.connect();
    const list = await client.pubSubChannels('test:*');
    await client.close();
    return list.sort();
  }

  it('a publish on one node reaches subscribers on every node exactly once, text and binary', async () => {
    const [a, b] = [await node(), await node()];
    const [a1, a2, b1, b2] = [await join(a.url), await join(a.url), await join(b.url), await join(b.url)];
    await vi.waitFor(async () => expect(await channels()).toEqual(['test:lobby']));
    await delay(50);
    a1.send('hello everyone');
    b2.send(Buffer.from([1, 2, 3]));
    for (const ws of [a2, b1]) {
      const inbox = messages(ws);
      const first = await inbox.next();
      const second = await inbox.next();
      const got = [first, second]
        .map((m) => (m.isBinary ? `bin:${[...m.data].join(',')}` : `text:${m.data.toString()}`))
        .sort();
      expect(got).toEqual(['bin:1,2,3', 'text:hello everyone']);
    }
    expect((await messages(a1).next()).data).toEqual(Buffer.from([1, 2, 3]));
    expect((await messages(b2).next()).data.toString()).toBe('hello everyone');
    // Exactly once: no duplicate may follow.
    await quietFor(300);
    for (const ws of [a1, b2]) expect(messages(ws).all).toHaveLength(1);
    for (const ws of [a2, b1]) expect(messages(ws).all).toHaveLength(2);
  });

  it('a node subscribes to a channel only while it has local subscribers', async () => {
    const a = await node();
    expect(await channels()).toEqual([]);
    const ws = await join(`${a.url}?topic=news`);
    await vi.waitFor(async () => expect(await channels()).toEqual(['test:news']));
    const other = await join(`${a.url}?topic=news`);
    ws.close();
    // Another local subscriber remains: the node must not unsubscribe.
    await quietFor(100);
    expect(await channels()).toEqual(['test:news']);
    other.close();
    await vi.waitFor(async () => expect(await channels()).toEqual([]));
    expect(a.hub.stats).toEqual({ topics: 0, subscriptions: 0 });
  });

  it('when Redis goes down, local delivery goes on and publish fails loudly; a restart restores every subscription', async () => {
    const [a, b] = [await node(), await node()];
    const errors: Error[] = [];
    a.hub.on('error', (error) => errors.push(error));
    const [a1, a2, b1] = [await join(a.url), await join(a.url), await join(b.url)];
    await vi.waitFor(async () => expect(await channels()).toEqual(['test:lobby']));
    await delay(50);

    await redis.stop();
    a1.send('while redis is down');
    expect((await messages(a2).next()).data.toString()).toBe('while redis is down');
    await expect(a.hub.publish('lobby', 'direct publish')).rejects.toThrow();
    expect((await messages(a2).next()).data.toString()).toBe('direct publish');
    expect(errors.length).toBeGreaterThan(0);
    // Nothing may reach the other node while Redis is down.
    await quietFor(200);
    expect(messages(b1).all).toEqual([]);

    await redis.restart();
    await vi.waitFor(async () => expect(await channels()).toEqual(['test:lobby']), { timeout: 8000, interval: 100 });
    await vi.waitFor(
      async () => {
        await a.hub.publish('lobby', 'after restart');
      },
      { timeout: 8000, interval: 200 },
    );
    expect((await messages(b1).next(5000)).data.toString()).toBe('after restart');
    b1.send('back the other way');
    const seen = messages(a1);
    let text = '';
    while (text !== 'back the other way') text = (await seen.next(5000)).data.toString();
  }, 30_000);
});

describe('redis hub outages', () => {
  const outageHubs: RedisHub[] = [];
  afterEach(async () => {
    await Promise.all(outageHubs.splice(0).map((hub) => hub.close()));
  });

  async function hub(): Promise<{ hub: RedisHub; errors: Error[]; recoveries: HubOutage[] }> {
    const created = redisHub({ url: redis.url, prefix: 'outage:' });
    outageHubs.push(created);
    const errors: Error[] = [];
    const recoveries: HubOutage[] = [];
    created.on('error', (error) => errors.push(error));
    created.on('recovered', (outage) => {
      expectTypeOf(outage).toEqualTypeOf<HubOutage>();
      recoveries.push(outage);
    });
    await created.ready();
    return { hub: created, errors, recoveries };
  }

  /** A subscriber that is not a socket: it records what reaches this node. */
  async function listen(node: RedisHub, topic: string): Promise<string[]> {
    const received: string[] = [];
    node.add(new Inbox((payload) => received.push(payload.toString())), topic);
    await node.whenSubscribed(topic);
    return received;
  }

  it('each outage is reported once as it starts (one error) and once as it ends, with counts', async () => {
    const a = await hub();
    for (let outage = 1; outage <= 2; outage++) {
      await redis.stop();
      const results = await Promise.allSettled(
        Array.from({ length: 300 }, (_, i) => a.hub.publish('lobby', `down ${i}`)),
      );
      expect(results.every((result) => result.status === 'rejected')).toBe(true);
      // node-redis keeps reconnecting meanwhile, and fails each time.
      // No second error for the same outage, however often node-redis fails to reconnect.
      await quietFor(600);
      expect(a.errors).toHaveLength(outage);
      const error = a.errors.at(-1) as RedisUnreachableError;
      expect(error).toBeInstanceOf(RedisUnreachableError);
      expect(error.code).toBe('SWITCHYARD_ERR_REDIS_UNREACHABLE');
      expect(error.cause).toBeInstanceOf(Error);
      expect(a.recoveries).toHaveLength(outage - 1);
      await redis.restart();
      await vi.waitFor(() => expect(a.recoveries).toHaveLength(outage), { timeout: 8000, interval: 50 });
      const report = a.recoveries.at(-1)!;
      expect(report.failedPublishes).toBe(300);
      expect(report.errors).toBeGreaterThan(0);
      expect(report.duration).toBeGreaterThanOrEqual(600);
      expect(report.since).toBeLessThanOrEqual(Date.now() - report.duration);
      await a.hub.publish('lobby', 'up again');
    }
    expect(a.errors).toHaveLength(2);
  }, 30_000);

  it('against a SIGKILLed redis-server: at most once and in order, loud while down, losses only at the edges', async () => {
    const [a, b] = [await hub(), await hub()];
    const received = await listen(b.hub, 'lobby');
    const outcomes: Array<{ i: number; at: number; result?: 'ok' | 'rejected' }> = [];
    let stop = false;
    const publishing = (async () => {
      for (let i = 0; !stop; i++) {
        const outcome: (typeof outcomes)[number] = { i, at: Date.now() };
        outcomes.push(outcome);
        a.hub.publish('lobby', String(i)).then(
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
    const killing = Date.now();
    await redis.stop();
    const killed = Date.now();
    await delay(500);
    const restarting = Date.now();
    await redis.restart();
    await vi.waitFor(() => expect([a.recoveries.length, b.recoveries.length]).toEqual([1, 1]), {
      timeout: 8000,
      interval: 20,
    });
    const recovered = Date.now();
    await delay(400);
    stop = true;
    await publishing;
    await vi.waitFor(() => expect(outcomes.every((o) => o.result !== undefined)).toBe(true), { timeout: 5000 });
    await delay(300);

    const got = received.map(Number);
    // At most once, in publish order: no duplicate, nothing out of order.
    expect(got).toEqual([...new Set(got)].sort((x, y) => x - y));
    // Loud while down: nothing published between the kill and the restart was acknowledged.
    const whileDown = outcomes.filter((o) => o.at >= killed && o.at < restarting);
    expect(whileDown.length).toBeGreaterThan(20);
    expect(whileDown.filter((o) => o.result === 'ok')).toEqual([]);
    expect(whileDown.every((o) => !received.includes(String(o.i)))).toBe(true);
    expect([a.errors.length, b.errors.length]).toEqual([1, 1]);
    // Delivered: every acknowledged publish well before the kill, and every one after both
    // nodes recovered (resubscribed).
    const delivered = new Set(got);
    const lost = outcomes.filter((o) => o.result === 'ok' && !delivered.has(o.i));
    expect(outcomes.filter((o) => o.at < killing - 100 && o.result === 'ok' && !delivered.has(o.i))).toEqual([]);
    expect(outcomes.filter((o) => o.at > recovered && (o.result !== 'ok' || !delivered.has(o.i)))).toEqual([]);
    // What may be lost in silence: acknowledged publishes only around the kill, or between the
    // restart and the subscriber's resubscription.
    for (const o of lost)
      expect((o.at >= killing - 100 && o.at < killed) || (o.at >= restarting && o.at <= recovered)).toBe(true);
    if (process.env.SWITCHYARD_REPORT_MEMORY) {
      console.info(
        `[redis] ${outcomes.length} publishes, ${got.length} delivered, ${whileDown.length} rejected while down, ${lost.length} acknowledged but lost`,
      );
    }
  }, 30_000);
});
