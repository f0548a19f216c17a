import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { createClient } from 'redis';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type WebSocket from 'ws';
import { websocket } from '@switchyard/express';
import { RedisHub, redisHub } from '@switchyard/redis';
import { runHubSuite } from '../../../test/hub-suite.js';
import { delay, messages, openWs } from '../../../test/helpers.js';
import { RedisServer } from './redis-server.js';

let redis: RedisServer;
beforeAll(async () => { redis = await RedisServer.start(); });
afterAll(async () => { await redis.stop(); });

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
    app.use('/room', websocket({
      hub,
      heartbeat: false,
      open(ws) { ws.subscribe(String(ws.request.query.topic ?? 'lobby')); },
      message(ws, data) { for (const topic of ws.topics) void ws.publish(topic, data); },
    }));
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
      const got = [first, second].map((m) => (m.isBinary ? `bin:${[...m.data].join(',')}` : `text:${m.data.toString()}`)).sort();
      expect(got).toEqual(['bin:1,2,3', 'text:hello everyone']);
    }
    expect((await messages(a1).next()).data).toEqual(Buffer.from([1, 2, 3]));
    expect((await messages(b1).all.length)).toBe(2);
    expect((await messages(b2).next()).data.toString()).toBe('hello everyone');
    await delay(300);
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
    await delay(100);
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
    await delay(200);
    expect(messages(b1).all).toEqual([]);

    await redis.restart();
    await vi.waitFor(async () => expect(await channels()).toEqual(['test:lobby']), { timeout: 8000, interval: 100 });
    await vi.waitFor(async () => {
      await a.hub.publish('lobby', 'after restart');
    }, { timeout: 8000, interval: 200 });
    expect((await messages(b1).next(5000)).data.toString()).toBe('after restart');
    b1.send('back the other way');
    const seen = messages(a1);
    let text = '';
    while (text !== 'back the other way') text = (await seen.next(5000)).data.toString();
  }, 30_000);
});
