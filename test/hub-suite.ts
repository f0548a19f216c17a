/**
 * The hub suite: the in-process hub and the Redis hub must pass the same tests. Real servers on
 * 127.0.0.1, real clients.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type WebSocket from 'ws';
import * as wsModule from 'ws';
import type { Handlers, Hub } from '@switchyard/core';
import { CloseCode } from '@switchyard/core';
import { websocket } from '@switchyard/express';
import {
  Opcode,
  RawClient,
  closeCodeOf,
  closed,
  delay,
  handshakeRequest,
  messages,
  openWs,
  quietFor,
  requireAssertions,
} from './helpers.js';

export interface HubFactory {
  name: string;
  /** A fresh hub; hubs made by one factory call `node` share a backend (two "nodes"). */
  create(): Promise<Hub>;
  /** Releases everything `create` made. */
  cleanup(): Promise<void>;
  /** How long a publish takes to reach other nodes' subscribers (0 in process). */
  settle: number;
  /**
   * Whether a publish keeps its place among the publisher's direct sends (default true). A
   * durable hub delivers local subscribers through its stream too, so it promises less: publishes
   * in order among themselves, direct sends in order among themselves (docs/redis.md).
   */
  orderedWithDirectSends?: boolean;
}

/** What a client got, checked against the order the hub promises. */
function expectOrder(got: string[], expected: string[], isDirect: (message: string) => boolean, strict: boolean): void {
  if (strict) {
    expect(got).toEqual(expected);
    return;
  }
  expect([...got].sort()).toEqual([...expected].sort());
  expect(got.filter(isDirect)).toEqual(expected.filter(isDirect));
  expect(got.filter((m) => !isDirect(m))).toEqual(expected.filter((m) => !isDirect(m)));
}

interface Node {
  hub: Hub;
  port: number;
  url(path: string): string;
  server: http.Server;
}

export function runHubSuite(factory: HubFactory): void {
  describe(`${factory.name}: hub`, () => {
    requireAssertions();
    const servers: http.Server[] = [];
    const clients: Array<WebSocket | RawClient> = [];
    afterEach(async () => {
      for (const client of clients.splice(0)) client instanceof RawClient ? client.destroy() : client.terminate();
      for (const server of servers.splice(0)) {
        server.closeAllConnections();
        server.close();
      }
      await factory.cleanup();
      vi.restoreAllMocks();
    });

    /** An Express app with a room endpoint, and the hub it publishes through. */
    async function node(hub?: Hub, extra: Handlers<any> = {}): Promise<Node> {
      const theHub = hub ?? (await factory.create());
      const app = express();
      app.use(
        '/room',
        websocket({
          hub: theHub,
          heartbeat: false,
          open(ws) {
            for (const topic of ws.request.query.topic === undefined ? ['lobby'] : [ws.request.query.topic].flat())
              ws.subscribe(topic);
          },
          message(ws, data) {
            if (data === 'direct') ws.send('direct reply');
            else for (const topic of ws.topics) void ws.publish(topic, data);
          },
          ...extra,
        }),
      );
      app.post('/announce', (_req, res) => {
        void theHub.publish('lobby', 'server says hi');
        res.end();
      });
      const server = http.createServer(app);
      servers.push(server);
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const { port } = server.address() as AddressInfo;
      return { hub: theHub, port, server, url: (path) => `ws://127.0.0.1:${port}${path}` };
    }

    const join = async (n: Node, path = '/room'): Promise<WebSocket> => {
      const ws = await openWs(n.url(path));
      clients.push(ws);
      return ws;
    };
    const subscribed = (hub: Hub, topic: string, count: number): Promise<void> =>
      vi.waitFor(() => expect(hub.subscriberCount(topic)).toBe(count), { timeout: 3000, interval: 10 });

    it('ws.publish reaches every subscriber except the sender; hub.publish reaches all', async () => {
      const n = await node();
      const [a, b, c] = [await join(n), await join(n), await join(n)];
      const other = await join(n, '/room?topic=elsewhere');
      await subscribed(n.hub, 'lobby', 3);
      a.send('from a');
      expect((await messages(b).next()).data.toString()).toBe('from a');
      expect((await messages(c).next()).data.toString()).toBe('from a');
      await fetch(`http://127.0.0.1:${n.port}/announce`, { method: 'POST' });
      for (const ws of [a, b, c]) expect((await messages(ws).next()).data.toString()).toBe('server says hi');
      // Nothing more may arrive: no echo of a's own message, nothing on the other topic.
      await quietFor(factory.settle + 50);
      expect(messages(a).all.map((m) => m.data.toString())).toEqual(['server says hi']);
      expect(messages(other).all).toEqual([]);
    });

    it('keeps text as text and binary as binary', async () => {
      const n = await node();
      const [a, b] = [await join(n), await join(n)];
      await subscribed(n.hub, 'lobby', 2);
      const inbox = messages(b);
      a.send('text');
      a.send(Buffer.from([0, 255, 1, 254]));
      const text = await inbox.next();
      const binary = await inbox.next();
      expect([text.isBinary, text.data.toString()]).toEqual([false, 'text']);
      expect([binary.isBinary, [...binary.data]]).toEqual([true, [0, 255, 1, 254]]);
      void n.hub.publish('lobby', new Uint8Array([9, 8, 7]));
      const typed = await inbox.next();
      expect([typed.isBinary, [...typed.data]]).toEqual([true, [9, 8, 7]]);
    });

    it('subscribe, unsubscribe, topics and subscriberCount', async () => {
      const n = await node(undefined, {
        open(ws) {
          ws.subscribe('a');
          ws.subscribe('b');
          ws.subscribe('a');
        },
        message(ws, data) {
          if (data === 'leave a') ws.unsubscribe('a');
          ws.send(JSON.stringify([...ws.topics]));
        },
      });
      const ws = await join(n);
      await subscribed(n.hub, 'a', 1);
      expect(n.hub.subscriberCount('b')).toBe(1);
      expect(n.hub.stats).toEqual({ topics: 2, subscriptions: 2 });
      ws.send('topics?');
      expect(JSON.parse((await messages(ws).next()).data.toString())).toEqual(['a', 'b']);
      ws.send('leave a');
      expect(JSON.parse((await messages(ws).next()).data.toString())).toEqual(['b']);
      expect(n.hub.subscriberCount('a')).toBe(0);
      expect(n.hub.stats).toEqual({ topics: 1, subscriptions: 1 });
    });

    it('a closing connection leaves all its topics; 10k subscribe/close cycles leak nothing', async () => {
      const n = await node(undefined, {
        open(ws) {
          ws.subscribe('t1');
          ws.subscribe(`own:${ws.request.query.i as string}`);
        },
      });
      const batch = 250;
      for (let done = 0; done < 10_000; done += batch) {
        const sockets = await Promise.all(
          Array.from({ length: batch }, (_, i) => openWs(n.url(`/room?i=${done + i}`))),
        );
        await subscribed(n.hub, 't1', batch);
        await Promise.all(
          sockets.map((s) => {
            const c = closed(s);
            s.close();
            return c;
          }),
        );
      }
      await vi.waitFor(() => expect(n.hub.stats).toEqual({ topics: 0, subscriptions: 0 }), { timeout: 5000 });
      expect(n.hub.subscriberCount('t1')).toBe(0);
    }, 120_000);

    it('frames once: one framing for N subscribers, and the bytes match ws.send', async () => {
      const n = await node();
      const sockets = await Promise.all(Array.from({ length: 50 }, () => join(n)));
      await subscribed(n.hub, 'lobby', 50);
      const spy = vi.spyOn((wsModule as unknown as { Sender: { frame(...args: unknown[]): unknown } }).Sender, 'frame');
      const payload = 'x'.repeat(1000);
      void n.hub.publish('lobby', payload);
      for (const s of sockets) expect((await messages(s).next()).data.toString()).toBe(payload);
      // Counted once all 50 have it: a hub that delivers later (a durable one) is held to it too.
      expect(spy).toHaveBeenCalledTimes(1);
      spy.mockRestore();
      // Byte level: a raw subscriber sees exactly the frame ws.send would have written.
      const raw = await RawClient.connect(n.port);
      clients.push(raw);
      raw.write(handshakeRequest('/room'));
      await raw.response();
      await subscribed(n.hub, 'lobby', 51);
      void n.hub.publish('lobby', payload);
      await raw.until(() => raw.frames().length >= 1);
      const head = raw.received.subarray(raw.received.indexOf('\r\n\r\n') + 4);
      expect([...head.subarray(0, 4)]).toEqual([0x81, 126, 0x03, 0xe8]);
      expect(head.subarray(4).toString()).toBe(payload);
    });

    it('keeps order when publishes interleave with direct sends, and with queued sends', async () => {
      const n = await node(undefined, {
        open(ws) {
          ws.subscribe('lobby');
        },
        message(ws, data) {
          // Interleave: direct, publish, direct, publish... from the server side.
          const count = Number(data);
          for (let i = 0; i < count; i++) {
            if (i % 2 === 0) ws.send(`m${i}`);
            else void n.hub.publish('lobby', `m${i}`);
          }
        },
      });
      const ws = await join(n);
      await subscribed(n.hub, 'lobby', 1);
      ws.send('200');
      const inbox = messages(ws);
      const got: string[] = [];
      while (got.length < 200) got.push((await inbox.next()).data.toString());
      const direct = (m: string): boolean => Number(m.slice(1)) % 2 === 0;
      expectOrder(
        got,
        Array.from({ length: 200 }, (_, i) => `m${i}`),
        direct,
        factory.orderedWithDirectSends ?? true,
      );
    });

    it('falls back to per-socket sends with compression, and stays in order', async () => {
      const n = await node(undefined, {
        compression: { threshold: 0 },
        open(ws) {
          ws.subscribe('lobby');
        },
        message(ws, data) {
          for (let i = 0; i < Number(data); i++) {
            if (i % 3 === 0) ws.send(`m${i}`.repeat(50));
            else void n.hub.publish('lobby', `m${i}`.repeat(50));
          }
        },
      });
      const deflating = await openWs(n.url('/room'), undefined, { perMessageDeflate: true });
      const plain = await openWs(n.url('/room'));
      clients.push(deflating, plain);
      expect(deflating.extensions).toContain('permessage-deflate');
      await subscribed(n.hub, 'lobby', 2);
      deflating.send('60');
      const inbox = messages(deflating);
      const got: string[] = [];
      while (got.length < 60) got.push((await inbox.next()).data.toString());
      const direct = (m: string): boolean => Number(/^m(\d+)/.exec(m)![1]) % 3 === 0;
      expectOrder(
        got,
        Array.from({ length: 60 }, (_, i) => `m${i}`.repeat(50)),
        direct,
        factory.orderedWithDirectSends ?? true,
      );
      const plainGot = messages(plain);
      const expected = Array.from({ length: 60 }, (_, i) => i)
        .filter((i) => i % 3 !== 0)
        .map((i) => `m${i}`.repeat(50));
      const plainSeen: string[] = [];
      while (plainSeen.length < expected.length) plainSeen.push((await plainGot.next()).data.toString());
      expect(plainSeen).toEqual(expected);
    });

    it('backpressure: a subscriber that does not read is closed with 1008 past maxBufferedAmount', async () => {
      const n = await node(undefined, {
        maxBufferedAmount: 2 * 1024 * 1024,
        open(ws) {
          ws.subscribe('lobby');
        },
      });
      const fast = await join(n);
      const slow = await RawClient.connect(n.port);
      clients.push(slow);
      slow.write(handshakeRequest('/room'));
      await slow.response();
      slow.socket.pause();
      await subscribed(n.hub, 'lobby', 2);
      const fastInbox = messages(fast);
      const chunk = Buffer.alloc(256 * 1024, 1);
      for (let i = 0; i < 64; i++) {
        void n.hub.publish('lobby', chunk);
        await delay(2);
      }
      // 16 MB through the hub (and Redis, in streams mode): on a busy machine one message can take
      // longer than next()'s default 3 s to follow the one before.
      for (let i = 0; i < 64; i++) expect((await fastInbox.next(10_000)).data.length).toBe(chunk.length);
      slow.socket.resume();
      await slow.until(() => slow.frames().some((f) => f.opcode === Opcode.CLOSE), 10_000);
      expect(closeCodeOf(slow.frames().find((f) => f.opcode === Opcode.CLOSE))).toBe(CloseCode.POLICY_VIOLATION);
      expect(slow.frames().filter((f) => f.opcode === Opcode.BINARY).length).toBeLessThan(64);
    }, 60_000);
  });
}
