/**
 * Resumes while the session store is down (issue 23, 2a and 2d): a real `redis-server` (AOF,
 * `appendfsync always`) that the test SIGKILLs and restarts, app nodes as processes of their own
 * (test/recovery/node.mjs), and `@switchyard/client` on `ws` behind TCP proxies that move each
 * client to another node during the outage. A resume the store cannot serve is answered with
 * 503 and `Retry-After` before the 101 or the stream, never with a fresh session that lost the
 * client's gap; the client waits as asked; once Redis is back, every acknowledged publish
 * arrives, once and in order.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join as joinPath } from 'node:path';
import fc from 'fast-check';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import { connect } from '@switchyard/client';
import type { SwitchyardSocket, UnrecoverableTopic, WebSocketConstructor } from '@switchyard/client';
import type { Handlers, RejectionInfo } from '@switchyard/core';
import { redisHub } from '@switchyard/redis';
import type { RedisHub } from '@switchyard/redis';
import { RedisServer } from '../../packages/redis/test/redis-server.js';
import { delay, requireAssertions } from '../helpers.js';
import { start } from '../harness.js';
import type { Harness } from '../harness.js';
import { TcpProxy } from '../proxy.js';

const NODE = new URL('../recovery/node.mjs', import.meta.url).pathname;
/** How long Redis stays down: the trials counted handshakes over a 3 s outage. */
const OUTAGE = 3000;
const report = (line: string): void => {
  if (process.env.SWITCHYARD_REPORT) console.info(`[recovery-outage] ${line}`);
};

/** A well-formed resume token of an unknown session, as the SSE header carries it. */
const SSE_TOKEN = Buffer.from(JSON.stringify({ s: 'AAAAAAAAAAAAAAAAAAAAAA', p: {} })).toString('base64url');

/** A raw handshake or SSE GET: the status and Retry-After of the answer, and whether it switched protocols. */
function ask(
  port: number,
  path: string,
  headers: Record<string, string>,
): Promise<{ status: number; retryAfter?: string }> {
  return new Promise((resolve, reject) => {
    const request = http.get({ host: '127.0.0.1', port, path, headers });
    request.once('upgrade', (response, socket) => {
      socket.destroy();
      resolve({ status: response.statusCode ?? 0 });
    });
    request.once('response', (response) => {
      resolve({ status: response.statusCode ?? 0, retryAfter: response.headers['retry-after'] });
      response.destroy();
    });
    request.once('error', reject);
  });
}

const WS_RESUME = {
  Connection: 'Upgrade',
  Upgrade: 'websocket',
  'Sec-WebSocket-Version': '13',
  'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==',
};

/** One client and what it received: app messages, `hello:` lines apart. */
interface Client {
  socket: SwitchyardSocket;
  proxy: TcpProxy;
  numbers: number[];
  hellos: string[];
  unrecoverable: UnrecoverableTopic[];
}

export function runRecoveryOutageSuite(harness: Harness): void {
  const adapter = harness.name;
  describe(`${adapter}: resumes while Redis is down`, () => {
    requireAssertions();
    let redis: RedisServer;
    let dir: string;
    const prefix = `ro${adapter}:`;
    const children: ChildProcess[] = [];
    let nodes: number[] = [];
    const proxies: TcpProxy[] = [];
    const sockets: SwitchyardSocket[] = [];
    const hubs: RedisHub[] = [];

    async function appNode(): Promise<number> {
      const child = spawn(process.execPath, [NODE], {
        // Sessions outlive the outage and a slow resume on a busy machine.
        env: { ...process.env, ADAPTER: adapter, REDIS_URL: redis.url, PREFIX: prefix, MAX_DISCONNECTION: '30000' },
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      children.push(child);
      return new Promise<number>((resolve, reject) => {
        let out = '';
        child.stdout!.on('data', (chunk: Buffer) => {
          out += chunk.toString();
          const match = /port (\d+)/.exec(out);
          if (match) resolve(Number(match[1]));
        });
        child.once('exit', (code) => reject(new Error(`node exited with ${String(code)}`)));
      });
    }

    async function hubOf(): Promise<RedisHub> {
      const hub = redisHub({ url: redis.url, prefix, durable: { maxLen: 10_000, ttl: 0 } });
      hub.on('error', () => {});
      hubs.push(hub);
      await hub.ready();
      return hub;
    }

    let down = false;
    /** SIGKILLs Redis; resolves with when. */
    async function killRedis(): Promise<number> {
      down = true;
      await redis.stop();
      return Date.now();
    }
    async function restartRedis(): Promise<void> {
      await redis.restart();
      down = false;
    }

    beforeAll(async () => {
      dir = mkdtempSync(joinPath(tmpdir(), 'sy-recovery-outage-'));
      redis = await RedisServer.start({ aofDir: dir });
      // Three app nodes: clients start on the first and are moved to the other two.
      nodes = await Promise.all([appNode(), appNode(), appNode()]);
    }, 60_000);
    afterAll(async () => {
      for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
      await redis.stop();
      rmSync(dir, { recursive: true, force: true });
    });
    afterEach(async () => {
      for (const socket of sockets.splice(0)) socket.close();
      await Promise.all(proxies.splice(0).map((proxy) => proxy.close()));
      // Redis up again for the next test, whatever this one did.
      if (down) await restartRedis();
      await Promise.all(hubs.splice(0).map((hub) => hub.close()));
    }, 30_000);

    it('a resume gets 503 with Retry-After before the 101 or the stream, whatever its token (fast-check), and reaches `rejected`; other handshakes open', async () => {
      const hub = redisHub({ url: redis.url, prefix, durable: true });
      hub.on('error', () => {});
      hubs.push(hub);
      await hub.ready();
      const rejected: RejectionInfo[] = [];
      const handlers: Handlers = {
        hub,
        recovery: {},
        fallback: {},
        open(ws) {
          ws.send('hello');
        },
        rejected: (info) => void rejected.push(info),
      };
      const app = await start(harness, [{ path: '/feed', handlers }]);
      try {
        const wsResume = (): ReturnType<typeof ask> => ask(app.port, '/feed?__sy=1&__sy_resume=1', WS_RESUME);
        const sseResume = (token = SSE_TOKEN): ReturnType<typeof ask> =>
          ask(app.port, '/feed?__sy=sse', { Accept: 'text/event-stream', 'X-Switchyard-Resume': token });
        expect(await wsResume()).toEqual({ status: 101 });
        expect(await sseResume()).toMatchObject({ status: 200 });

        await killRedis();
        await vi.waitFor(async () => expect(await wsResume()).toEqual({ status: 503, retryAfter: '1' }), {
          timeout: 5000,
        });
        expect(await sseResume()).toEqual({ status: 503, retryAfter: '1' });
        // Only resumes wait for the store: a new connection opens as before.
        expect(await ask(app.port, '/feed?__sy=1', WS_RESUME)).toEqual({ status: 101 });
        expect(await ask(app.port, '/feed?__sy=sse', { Accept: 'text/event-stream' })).toMatchObject({ status: 200 });
        expect(rejected.slice(-2)).toEqual([
          expect.objectContaining({ status: 503, path: '/feed' }),
          expect.objectContaining({ status: 503, path: '/feed' }),
        ]);
        expect(rejected.every((info) => info.status === 503)).toBe(true);
        // Whatever the token, a resume waits for the store: a garbage one is told so once the
        // store is back, never given a session now (fast-check, 25 runs of two requests).
        await fc.assert(
          fc.asyncProperty(
            fc.stringMatching(/^[\x21-\x7e]{0,200}$/),
            fc.constantFrom('', 'a=1&', 'x=%20&'),
            async (token, before) => {
              expect(await sseResume(token)).toEqual({ status: 503, retryAfter: '1' });
              expect(await ask(app.port, `/feed?${before}__sy=1&__sy_resume=1`, WS_RESUME)).toEqual({
                status: 503,
                retryAfter: '1',
              });
            },
          ),
          { numRuns: 25 },
        );

        await restartRedis();
        await vi.waitFor(async () => expect(await wsResume()).toEqual({ status: 101 }), { timeout: 10_000 });
        expect(await sseResume()).toMatchObject({ status: 200 });
      } finally {
        await app.close();
      }
    }, 30_000);

    for (const transport of ['websocket', 'sse'] as const) {
      it(`${transport}: clients moved to other nodes while Redis is down wait as asked, then miss nothing`, async () => {
        const topic = `feed-${transport}`;
        const [first, second, third] = nodes as [number, number, number];
        const publisher = await hubOf();
        const clients: Client[] = await Promise.all(
          Array.from({ length: 3 }, async () => {
            const proxy = await TcpProxy.start(first, 'pass');
            proxies.push(proxy);
            const socket = connect(proxy.url(`/feed?topic=${topic}`), {
              WebSocket: WebSocket as unknown as WebSocketConstructor,
              transports: [transport],
              recover: true,
              reconnect: { initialDelay: 50, maxDelay: 200, jitter: 0 },
            });
            sockets.push(socket);
            const c: Client = { socket, proxy, numbers: [], hellos: [], unrecoverable: [] };
            socket.addEventListener('message', (event) => {
              const text = String(event.data);
              if (text.startsWith('hello:')) c.hellos.push(text);
              else c.numbers.push(Number(text));
            });
            socket.addEventListener('unrecoverable', (event) => c.unrecoverable.push(...event.topics));
            await vi.waitFor(() => expect([c.hellos.length, socket.resumable]).toEqual([1, true]), { timeout: 5000 });
            return c;
          }),
        );

        // Publishes 0, 1, 2...: each number once, acknowledged or not; only the acknowledged must arrive.
        const acknowledged: number[] = [];
        let next = 0;
        let publishing = true;
        const running = (async () => {
          while (publishing) {
            const n = next++;
            await publisher.publish(topic, String(n)).then(
              () => void acknowledged.push(n),
              () => {},
            );
            await delay(5);
          }
        })();
        await delay(300);

        const downAt = await killRedis();
        // Each client's connection drops, and it comes back on another node while Redis is down.
        for (const [i, c] of clients.entries()) c.proxy.retarget(i === 1 ? third : second);
        for (const c of clients) c.proxy.cut();
        const attempts = (): number =>
          clients.reduce((sum, c) => sum + c.proxy.requests.filter((r) => r.method === 'GET').length, 0);
        const before = attempts();
        await delay(OUTAGE - (Date.now() - downAt));
        const during = attempts() - before;
        await restartRedis();

        await vi.waitFor(() => expect(clients.every((c) => c.hellos.length === 2)).toBe(true), { timeout: 10_000 });
        await delay(300);
        publishing = false;
        await running;
        const last = acknowledged.at(-1)!;
        for (const c of clients) {
          await vi.waitFor(() => expect(c.numbers.at(-1)).toBe(last), { timeout: 5000 });
          // Resumed, never a fresh session; told of no gap, and there is none.
          expect(c.hellos).toEqual(['hello:false', 'hello:true']);
          expect(c.socket.recovered).toBe(true);
          expect(c.unrecoverable).toEqual([]);
          const received = new Set(c.numbers);
          expect({
            duplicated: c.numbers.length - received.size,
            outOfOrder: c.numbers.some((n, i) => i > 0 && n <= c.numbers[i - 1]!),
            lost: acknowledged.filter((n) => !received.has(n)),
          }).toEqual({ duplicated: 0, outOfOrder: false, lost: [] });
        }
        // Retry-After: 1 against a 3 s outage: about 3 attempts per client, where a 1013 after
        // the 101 (which started the backoff over) made 20 or more.
        expect(during).toBeLessThanOrEqual(clients.length * 6);
        report(
          `${adapter} ${transport}: 3 clients, ${during} handshakes during a ${OUTAGE} ms outage; ${acknowledged.length} acknowledged of ${next} published, each received ${acknowledged.length}+, 0 lost, 0 duplicated`,
        );
      }, 30_000);
    }
  });
}
