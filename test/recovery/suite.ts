/**
 * The recovery suite: resumable connections on a durable Redis hub, across app nodes that are
 * processes of their own (test/recovery/node.mjs), with clients that reconnect through a TCP
 * proxy the test can cut. Each adapter runs it from a few-line file.
 */
import { execFile, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join as joinPath } from 'node:path';
import fc from 'fast-check';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import { connect } from '@switchyard/client';
import type { SwitchyardSocket, UnrecoverableTopic, WebSocketConstructor } from '@switchyard/client';
import { redisHub } from '@switchyard/redis';
import type { RedisHub } from '@switchyard/redis';
import { RedisCluster } from '../../packages/redis/test/redis-cluster.js';
import { RedisServer } from '../../packages/redis/test/redis-server.js';
import { delay, openWs, requireAssertions } from '../helpers.js';
import { TcpProxy } from '../proxy.js';
import { deliveryViolations, missing } from './delivery.js';
import type { Seen } from './delivery.js';
import { StallProxy } from './stall-proxy.js';

import type { Harness } from '../harness.js';

const NODE = new URL('./node.mjs', import.meta.url).pathname;
const report = (line: string): void => {
  if (process.env.SWITCHYARD_REPORT) console.info(`[recovery] ${line}`);
};

/** An app node in a child process. */
interface AppNode {
  port: number;
  child: ChildProcess;
}

/** One client and what it received: app messages, `hello:` lines apart. */
interface Client {
  socket: SwitchyardSocket;
  proxy: TcpProxy;
  numbers: number[];
  hellos: string[];
  unrecoverable: UnrecoverableTopic[];
  /** Messages and `unrecoverable` events in the order they came. */
  seen: Seen[];
}

/**
 * `backend`: one redis-server (the default), or a Redis Cluster of three masters and three
 * replicas. On the cluster, the tests that hold a node's Redis connection through a stall proxy
 * are not defined: the proxy stands in front of one address, and a cluster client connects to
 * the addresses the cluster announces.
 */
export function runRecoverySuite(harness: Harness, backend: 'redis' | 'cluster' = 'redis'): void {
  const adapter = harness.name;
  const onCluster = backend === 'cluster';
  describe(`${adapter}: resumable connections on a durable hub${onCluster ? ', on a Redis Cluster' : ''}`, () => {
    requireAssertions();
    let redis: RedisServer;
    let cluster: RedisCluster | undefined;
    let dir: string;
    let prefixes = 0;
    const children: ChildProcess[] = [];
    const proxies: TcpProxy[] = [];
    const stalls: StallProxy[] = [];
    const sockets: SwitchyardSocket[] = [];
    const hubs: RedisHub[] = [];

    beforeAll(async () => {
      dir = mkdtempSync(joinPath(tmpdir(), 'sy-recovery-'));
      // No kill of Redis here: the cluster's nodes need no append-only file (nor its fsyncs).
      if (onCluster) cluster = await RedisCluster.start();
      else redis = await RedisServer.start({ aofDir: dir });
    }, 30_000);
    afterAll(async () => {
      await (onCluster ? cluster?.stop() : redis.stop());
      rmSync(dir, { recursive: true, force: true });
    });
    afterEach(async () => {
      for (const socket of sockets.splice(0)) socket.close();
      for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
      await Promise.all(proxies.splice(0).map((proxy) => proxy.close()));
      await Promise.all(stalls.splice(0).map((stall) => stall.close()));
      await Promise.all(hubs.splice(0).map((hub) => hub.close()));
    });

    async function appNode(prefix: string, env: Record<string, string> = {}): Promise<AppNode> {
      const child = spawn(process.execPath, [NODE], {
        env: {
          ...process.env,
          ADAPTER: adapter,
          ...(cluster
            ? { REDIS_CLUSTER: cluster.rootNodes.map((node) => node.url).join(',') }
            : { REDIS_URL: redis.url }),
          PREFIX: prefix,
          ...env,
        },
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      children.push(child);
      const port = await new Promise<number>((resolve, reject) => {
        let out = '';
        child.stdout!.on('data', (chunk: Buffer) => {
          out += chunk.toString();
          const match = /port (\d+)/.exec(out);
          if (match) resolve(Number(match[1]));
        });
        child.once('exit', (code) => reject(new Error(`node exited with ${String(code)}`)));
      });
      return { port, child };
    }

    async function publisher(prefix: string, maxLen = 10_000): Promise<RedisHub> {
      const durable = { maxLen, ttl: 0 };
      const hub = cluster
        ? redisHub({ cluster: { rootNodes: cluster.rootNodes }, prefix, durable })
        : redisHub({ url: redis.url, prefix, durable });
      hub.on('error', () => {});
      hubs.push(hub);
      await hub.ready();
      return hub;
    }

    async function client(
      node: AppNode,
      path = '/feed',
      transport: 'websocket' | 'sse' = 'websocket',
    ): Promise<Client> {
      const proxy = await TcpProxy.start(node.port, 'pass');
      proxies.push(proxy);
      const socket = connect(proxy.url(path), {
        WebSocket: WebSocket as unknown as WebSocketConstructor,
        transports: [transport],
        recover: true,
        reconnect: { initialDelay: 50, maxDelay: 200, jitter: 0 },
      });
      sockets.push(socket);
      const c: Client = { socket, proxy, numbers: [], hellos: [], unrecoverable: [], seen: [] };
      socket.addEventListener('message', (event) => {
        const text = String(event.data);
        if (text.startsWith('hello:')) c.hellos.push(text);
        else c.numbers.push(text.startsWith('after') ? Number.NaN : Number.parseInt(text, 10));
        if (/^\d+$/.test(text)) c.seen.push({ message: Number(text) });
      });
      socket.addEventListener('unrecoverable', (event) => {
        c.unrecoverable.push(...event.topics);
        for (const { reason } of event.topics) c.seen.push({ unrecoverable: reason });
      });
      await vi.waitFor(() => expect([c.hellos.length, socket.resumable]).toEqual([1, true]), { timeout: 5000 });
      return c;
    }

    /** Publishes 0, 1, 2... every `every` ms until stopped; resolves with the count. */
    function steady(hub: RedisHub, topic: string, every = 3): { stop(): Promise<number> } {
      let stopped = false;
      let count = 0;
      const running = (async () => {
        while (!stopped) {
          await hub.publish(topic, String(count++)).catch(() => {
            count--;
          });
          await delay(every);
        }
      })();
      return {
        async stop() {
          stopped = true;
          await running;
          return count;
        },
      };
    }

    const inOrder = (numbers: number[], total: number): void => {
      const lost = total - new Set(numbers).size;
      const duplicated = numbers.length - new Set(numbers).size;
      expect({ lost, duplicated, outOfOrder: numbers.some((n, i) => i > 0 && n <= numbers[i - 1]!) }).toEqual({
        lost: 0,
        duplicated: 0,
        outOfOrder: false,
      });
      expect(numbers).toEqual(Array.from({ length: total }, (_, i) => i));
    };

    it('a client cut for 2 s gets everything it missed, in order and once, and ws.recovered is true', async () => {
      const prefix = `r${prefixes++}${adapter}:`;
      const node = await appNode(prefix);
      const hub = await publisher(prefix);
      const c = await client(node);
      await delay(100);
      const run = steady(hub, 'feed');
      await delay(300);
      c.proxy.block(true);
      c.proxy.cut();
      const cutAt = Date.now();
      await delay(2000);
      c.proxy.block(false);
      await vi.waitFor(() => expect(c.hellos.length).toBe(2), { timeout: 5000 });
      const resumedIn = Date.now() - cutAt - 2000;
      await delay(300);
      const total = await run.stop();
      await vi.waitFor(() => expect(c.numbers.length).toBeGreaterThanOrEqual(total), { timeout: 5000 });
      await delay(100);
      expect(c.hellos).toEqual(['hello:false', 'hello:true']);
      expect(c.socket.recovered).toBe(true);
      expect(c.unrecoverable).toEqual([]);
      inOrder(c.numbers, total);
      report(
        `${adapter} cut 2 s: ${total} published, ${c.numbers.length} received, 0 lost, 0 duplicated, resumed ${resumedIn} ms after the network came back`,
      );
    }, 20_000);

    it('a SIGKILLed node: its clients resume on another node and miss nothing', async () => {
      const prefix = `r${prefixes++}${adapter}:`;
      const [first, second] = [await appNode(prefix), await appNode(prefix)];
      const hub = await publisher(prefix);
      const clients = await Promise.all(Array.from({ length: 5 }, () => client(first)));
      await delay(100);
      const run = steady(hub, 'feed');
      await delay(300);
      for (const c of clients) c.proxy.retarget(second.port);
      first.child.kill('SIGKILL');
      const killedAt = Date.now();
      await vi.waitFor(() => expect(clients.every((c) => c.hellos.length === 2)).toBe(true), { timeout: 8000 });
      const resumedIn = Date.now() - killedAt;
      await delay(300);
      const total = await run.stop();
      for (const c of clients) {
        await vi.waitFor(() => expect(c.numbers.length).toBeGreaterThanOrEqual(total), { timeout: 5000 });
        expect(c.hellos).toEqual(['hello:false', 'hello:true']);
        inOrder(c.numbers, total);
      }
      report(
        `${adapter} node SIGKILL: 5 clients, ${total} published, each received ${total}, 0 lost, 0 duplicated, all resumed on the other node within ${resumedIn} ms`,
      );
    }, 20_000);

    it('an SSE client whose node is SIGKILLed resumes on another node from the streams, and misses nothing', async () => {
      const prefix = `r${prefixes++}${adapter}:`;
      const [first, second] = [await appNode(prefix), await appNode(prefix)];
      const hub = await publisher(prefix);
      const c = await client(first, '/feed', 'sse');
      expect(c.socket.transport).toBe('sse');
      await delay(100);
      const run = steady(hub, 'feed');
      await delay(300);
      c.proxy.retarget(second.port);
      first.child.kill('SIGKILL');
      const killedAt = Date.now();
      await vi.waitFor(() => expect(c.hellos.length).toBe(2), { timeout: 8000 });
      const resumedIn = Date.now() - killedAt;
      await delay(300);
      const total = await run.stop();
      await vi.waitFor(() => expect(c.numbers.length).toBeGreaterThanOrEqual(total), { timeout: 5000 });
      expect(c.hellos).toEqual(['hello:false', 'hello:true']);
      expect(c.socket.recovered).toBe(true);
      inOrder(c.numbers, total);
      report(
        `${adapter} SSE node SIGKILL: ${total} published, ${c.numbers.length} received, 0 lost, 0 duplicated, resumed on the other node within ${resumedIn} ms`,
      );
    }, 20_000);

    /** Publishes `from`..`to - 1` in batches (Redis fsyncs once per batch), in order. */
    const publishRange = async (hub: RedisHub, from: number, to: number): Promise<void> => {
      for (let i = from; i < to; i += 100) {
        await Promise.all(Array.from({ length: Math.min(100, to - i) }, (_, k) => hub.publish('feed', String(i + k))));
      }
    };
    const range = (from: number, to: number): number[] => Array.from({ length: to - from }, (_, i) => from + i);

    for (const transport of onCluster ? [] : (['websocket', 'sse'] as const)) {
      it(`${transport}: a resume on a node whose stream reader lags behind the client repeats nothing and misses nothing`, async () => {
        const prefix = `r${prefixes++}${adapter}:`;
        const stall = await StallProxy.start(redis.port);
        stalls.push(stall);
        const [first, second] = [await appNode(prefix), await appNode(prefix, { REDIS_URL: stall.url })];
        const hub = await publisher(prefix);
        // Keeps the topic open on the second node, so that its reader has a position to lag at.
        const watcher = await client(second);
        const c = await client(first, '/feed', transport);
        await publishRange(hub, 0, 10);
        await vi.waitFor(() => expect([c.numbers.length, watcher.numbers.length]).toEqual([10, 10]), { timeout: 5000 });
        // The second node's reader is held: it stays at 9 while the client gets up to 59 from the first.
        stall.stall('reader');
        await publishRange(hub, 10, 60);
        await vi.waitFor(() => expect(c.numbers.length).toBe(60), { timeout: 5000 });
        c.proxy.retarget(second.port);
        c.proxy.cut();
        await vi.waitFor(() => expect(c.hellos).toEqual(['hello:false', 'hello:true']), { timeout: 8000 });
        await delay(200);
        stall.release();
        await publishRange(hub, 60, 80);
        await vi.waitFor(() => expect(c.numbers.length).toBeGreaterThanOrEqual(80), { timeout: 5000 });
        await vi.waitFor(() => expect(watcher.numbers.length).toBeGreaterThanOrEqual(80), { timeout: 5000 });
        await delay(200);
        // Before the fix: 10..59 twice, exactly the entries between the node's position and the client's.
        expect(c.unrecoverable).toEqual([]);
        inOrder(c.numbers, 80);
        inOrder(watcher.numbers, 80);
      }, 30_000);
    }

    if (!onCluster) {
      it('clients that never disconnect are told when entries were trimmed before their node read them (reader held while 1,500 are published, maxLen 500)', async () => {
        const prefix = `r${prefixes++}${adapter}:`;
        const stall = await StallProxy.start(redis.port);
        stalls.push(stall);
        const node = await appNode(prefix, { REDIS_URL: stall.url, MAX_LEN: '500' });
        const hub = await publisher(prefix, 500);
        const clients = [await client(node), await client(node, '/feed', 'sse')];
        await publishRange(hub, 0, 1);
        await vi.waitFor(() => expect(clients.map((c) => c.numbers.length)).toEqual([1, 1]), { timeout: 5000 });
        stall.stall('reader');
        const heldAt = Date.now();
        await publishRange(hub, 1, 1501);
        // Held at least 600 ms, however fast Redis took the 1,500.
        await delay(Math.max(0, 600 - (Date.now() - heldAt)));
        stall.release();
        await publishRange(hub, 1501, 1502);
        for (const c of clients) {
          await vi.waitFor(() => expect(c.numbers.at(-1)).toBe(1501), { timeout: 8000 });
          // Before the fix: about 1,000 lost per client, and no event.
          expect(missing(c.seen, range(0, 1502))).toBeGreaterThan(0);
          expect(c.unrecoverable).toContainEqual({ topic: 'feed', reason: 'trimmed' });
          expect(deliveryViolations(c.seen, range(0, 1502))).toEqual([]);
          report(
            `${adapter} ${c.socket.transport} reader held: 1502 published, ${missing(c.seen, range(0, 1502))} trimmed before the node read them, told`,
          );
        }
      }, 30_000);
    }

    it('a stream that is lost (its keys deleted) is told as "reset", to a connected client before the new stream\'s first message and to one that resumes', async () => {
      const prefix = `r${prefixes++}${adapter}:`;
      const node = await appNode(prefix);
      const hub = await publisher(prefix);
      const [live, away] = [await client(node), await client(node)];
      await publishRange(hub, 0, 5);
      await vi.waitFor(() => expect([live.numbers.length, away.numbers.length]).toEqual([5, 5]), { timeout: 5000 });
      away.proxy.block(true);
      away.proxy.cut();
      await new Promise((resolve, reject) =>
        execFile(
          'redis-cli',
          cluster
            ? ['-c', '-p', String(cluster.live()[0]!.port), 'DEL', `${prefix}stream:{feed}`, `${prefix}meta:{feed}`]
            : ['-p', String(redis.port), 'DEL', `${prefix}stream:feed`, `${prefix}meta:feed`],
          (error) => (error ? reject(error) : resolve(undefined)),
        ),
      );
      await publishRange(hub, 5, 10);
      await vi.waitFor(() => expect(live.numbers).toEqual(range(0, 10)), { timeout: 5000 });
      // Before the fix the connected client got the new stream's entries with no word of the loss.
      expect(live.seen.slice(4, 7)).toEqual([{ message: 4 }, { unrecoverable: 'reset' }, { message: 5 }]);
      away.proxy.block(false);
      await vi.waitFor(() => expect(away.unrecoverable).toEqual([{ topic: 'feed', reason: 'reset' }]), {
        timeout: 5000,
      });
      await publishRange(hub, 10, 11);
      await vi.waitFor(() => expect(away.numbers.at(-1)).toBe(10), { timeout: 5000 });
      expect(deliveryViolations(away.seen, range(0, 11))).toEqual([]);
    }, 30_000);

    it('a garbage X-Switchyard-Resume header on a new SSE session gets a 400; the node lives (fast-check)', async () => {
      const prefix = `r${prefixes++}${adapter}:`;
      const node = await appNode(prefix);
      const open = async (header: string): Promise<number> => {
        const abort = new AbortController();
        const response = await fetch(`http://127.0.0.1:${node.port}/feed?__sy=sse`, {
          headers: { accept: 'text/event-stream', 'x-switchyard-resume': header },
          signal: abort.signal,
        });
        abort.abort();
        return response.status;
      };
      await fc.assert(
        // base64url text that decodes to bytes no resume token can be: never a session, always a 400.
        fc.asyncProperty(fc.stringMatching(/^[A-Za-z0-9_-]{1,400}$/), async (header) => {
          expect(await open(header)).toBe(400);
        }),
        { numRuns: 40 },
      );
      // A token that parses but names another session opens a new, unrecovered session.
      const wellFormed = Buffer.from(JSON.stringify({ s: 'AAAAAAAAAAAAAAAAAAAAAA', p: {} })).toString('base64url');
      expect(await open(wellFormed)).toBe(200);
      expect(node.child.exitCode).toBe(null);
    }, 60_000);

    it('a gap past maxLen gets the explicit "unrecoverable" answer, then live messages again', async () => {
      const prefix = `r${prefixes++}${adapter}:`;
      const node = await appNode(prefix, { MAX_LEN: '10' });
      const hub = await publisher(prefix, 10);
      const c = await client(node);
      await hub.publish('feed', '0');
      await vi.waitFor(() => expect(c.numbers).toEqual([0]));
      c.proxy.block(true);
      c.proxy.cut();
      // MAXLEN ~ trims whole macro-nodes of 100 entries: 500 is well past maxLen.
      for (let i = 1; i <= 500; i += 50)
        await Promise.all(Array.from({ length: 50 }, (_, k) => hub.publish('feed', String(i + k))));
      c.proxy.block(false);
      await vi.waitFor(() => expect(c.unrecoverable).toEqual([{ topic: 'feed', reason: 'trimmed' }]), {
        timeout: 5000,
      });
      expect(c.hellos).toEqual(['hello:false', 'hello:true']);
      expect(c.numbers).toEqual([0]);
      await hub.publish('feed', 'after');
      await vi.waitFor(() => expect(c.numbers.length).toBe(2));
      expect(Number.isNaN(c.numbers[1])).toBe(true);
    }, 20_000);

    it('a backlog larger than maxReplay is not replayed: "too-far-behind", memory stays bounded', async () => {
      const prefix = `r${prefixes++}${adapter}:`;
      const node = await appNode(prefix, { MAX_REPLAY: '100' });
      const hub = await publisher(prefix);
      const c = await client(node);
      c.proxy.block(true);
      c.proxy.cut();
      for (let i = 0; i < 300; i += 50)
        await Promise.all(Array.from({ length: 50 }, (_, k) => hub.publish('feed', String(i + k))));
      c.proxy.block(false);
      await vi.waitFor(() => expect(c.unrecoverable).toEqual([{ topic: 'feed', reason: 'too-far-behind' }]), {
        timeout: 5000,
      });
      expect(c.numbers).toEqual([]);
    }, 20_000);

    it('a backlog within maxReplay replays fully; a client that leaves mid-replay leaves the node healthy', async () => {
      const prefix = `r${prefixes++}${adapter}:`;
      const node = await appNode(prefix);
      const hub = await publisher(prefix);
      const c = await client(node);
      c.proxy.block(true);
      c.proxy.cut();
      const payload = 'x'.repeat(2000);
      // In batches: Redis fsyncs the append-only file once per batch, not once per entry.
      for (let i = 0; i < 3000; i += 100) {
        await Promise.all(Array.from({ length: 100 }, (_, k) => hub.publish('feed', `${i + k} ${payload}`)));
      }
      // Resume, then drop in the middle of the replay, twice; the third time it completes.
      c.proxy.block(false);
      await vi.waitFor(() => expect(c.hellos.length).toBe(2), { timeout: 5000 });
      c.proxy.cut();
      await vi.waitFor(() => expect(c.hellos.length).toBe(3), { timeout: 5000 });
      await vi.waitFor(() => expect(c.numbers.length).toBeGreaterThanOrEqual(3000), { timeout: 15_000 });
      inOrder(
        c.numbers.map((n) => n),
        3000,
      );
      expect(c.unrecoverable).toEqual([]);
      expect(node.child.exitCode).toBe(null);
    }, 30_000);

    it('a token of another endpoint resumes nothing: ws.recovered is false, the client is told', async () => {
      const prefix = `r${prefixes++}${adapter}:`;
      const node = await appNode(prefix);
      /** A raw client that presents `token` and collects every frame. */
      const present = async (path: string, token: unknown): Promise<string[]> => {
        const raw = await openWs(`ws://127.0.0.1:${node.port}${path}?__sy=1&__sy_resume=1`);
        const inbox: string[] = [];
        raw.on('message', (data) => inbox.push(data.toString()));
        raw.send(`\u0000sy:resume${JSON.stringify(token)}`);
        await vi.waitFor(() => expect(inbox.some((m) => m.startsWith('\u0000sy:session'))).toBe(true));
        raw.close();
        await delay(50);
        return inbox;
      };
      const session = (inbox: string[]): { id: string; recovered: boolean; unrecoverable: unknown[] } =>
        JSON.parse(inbox.find((m) => m.startsWith('\u0000sy:session'))!.slice('\u0000sy:session'.length));
      const first = await present('/feed', { s: null, p: {} });
      expect(first).toContain('hello:false');
      const { id } = session(first);
      const elsewhere = await present('/other', { s: id, p: { feed: ['0-0', '', 0] } });
      expect(elsewhere).toContain('hello:false');
      expect(session(elsewhere)).toMatchObject({
        recovered: false,
        unrecoverable: [{ topic: 'feed', reason: 'expired' }],
      });
      // And on its own endpoint a fresh session resumes.
      const again = await present('/feed', { s: null, p: {} });
      const resumed = await present('/feed', { s: session(again).id, p: {} });
      expect(resumed).toContain('hello:true');
      expect(session(resumed)).toMatchObject({ id: session(again).id, recovered: true, unrecoverable: [] });
    });

    it('forged, garbage and oversized tokens get a close code; the node lives (fast-check)', async () => {
      const prefix = `r${prefixes++}${adapter}:`;
      const node = await appNode(prefix);
      const attempt = async (token: string | Buffer): Promise<{ code: number; hello?: string }> => {
        const raw = await openWs(`ws://127.0.0.1:${node.port}/feed?__sy=1&__sy_resume=1`);
        let hello: string | undefined;
        raw.on('message', (data) => {
          if (data.toString().startsWith('hello:')) hello = data.toString();
        });
        const closed = new Promise<number>((resolve) => raw.once('close', (code) => resolve(code)));
        raw.send(token);
        const code = await Promise.race([closed, delay(1500).then(() => 0)]);
        raw.terminate();
        return { code, hello };
      };
      await fc.assert(
        fc.asyncProperty(
          fc.oneof(
            fc.string({ maxLength: 200 }),
            fc.json().map((json) => `\u0000sy:resume${json}`),
            fc
              .record({
                s: fc.oneof(fc.string(), fc.constant(null), fc.integer()),
                p: fc.dictionary(fc.string(), fc.anything()),
              })
              .map((token) => `\u0000sy:resume${JSON.stringify(token)}`),
            fc.uint8Array({ maxLength: 100 }).map((bytes) => Buffer.from(bytes)),
          ),
          async (token) => {
            const { code, hello } = await attempt(token);
            // Either a clear refusal (1008), or a well-formed token that resumed nothing.
            if (code === 0) expect(hello).toBe('hello:false');
            else expect(code).toBe(1008);
          },
        ),
        { numRuns: 40 },
      );
      expect((await attempt(`\u0000sy:resume${JSON.stringify({ s: null, p: {} })}${' '.repeat(70_000)}`)).code).toBe(
        1009,
      );
      // A well-formed token with an unknown session: opens, not recovered.
      expect(
        await attempt(
          `\u0000sy:resume${JSON.stringify({ s: 'AAAAAAAAAAAAAAAAAAAAAA', p: { feed: ['1-0', 'x', 1] } })}`,
        ),
      ).toEqual({ code: 0, hello: 'hello:false' });
      expect(node.child.exitCode).toBe(null);
    }, 60_000);
  });
}
