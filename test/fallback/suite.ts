/**
 * The fallback suite: `@switchyard/client` in Node against a real endpoint of each adapter,
 * through a TCP proxy that breaks WebSockets the way real networks do (test/proxy.ts).
 *
 *   runFallback(expressHarness);
 *
 * Every exchange goes over real sockets: the client's WebSocket is undici's (a browser's
 * implementation) or `ws`, its fetch is Node's.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket as UndiciWebSocket } from 'undici';
import WsWebSocket from 'ws';
import type { Handlers, Hub } from '@switchyard/core';
import { LIVENESS_FRAME } from '@switchyard/core/protocol';
import { connect } from '@switchyard/client';
import type { ConnectOptions, SwitchyardSocket, WebSocketConstructor } from '@switchyard/client';
import type { Harness, Mount, Started } from '../harness.js';
import { start } from '../harness.js';
import {
  Opcode,
  RawClient,
  delay,
  handshakeRequest,
  messages,
  openWs,
  quietFor,
  requireAssertions,
  until,
} from '../helpers.js';
import { TcpProxy } from '../proxy.js';
import type { ProxyMode, ProxiedRequest } from '../proxy.js';

/** The client's liveness timeout in these tests, short so that fallbacks are quick. */
export const LIVENESS = 500;

/** The WebSocket classes the Node client is tested with. */
export const WEBSOCKETS: Array<[name: string, WebSocket: WebSocketConstructor]> = [
  ['undici', UndiciWebSocket as unknown as WebSocketConstructor],
  ['ws', WsWebSocket as unknown as WebSocketConstructor],
];

/** What each proxy mode should leave the client with. */
export const EXPECTED_TRANSPORT: Record<ProxyMode, 'websocket' | 'sse'> = {
  pass: 'websocket',
  'refuse-upgrade': 'sse',
  'drop-after-101': 'sse',
};

export const isStream = (request: ProxiedRequest): boolean =>
  request.method === 'GET' && request.target.includes('__sy=sse');
export const isPost = (request: ProxiedRequest): boolean =>
  request.method === 'POST' && request.target.includes('__sy=post');

/** A readable form of what a client received, for `toEqual`. */
export function describeData(data: unknown): string {
  if (typeof data === 'string') return data;
  if (data instanceof ArrayBuffer) return `bytes:${[...new Uint8Array(data)].join(',')}`;
  return `unexpected ${Object.prototype.toString.call(data)}`;
}

/** Everything one client socket reported, and promise helpers over it. */
export interface Watched {
  socket: SwitchyardSocket;
  received: unknown[];
  events: string[];
  closes: Array<{ code: number; reason: string; wasClean: boolean; willReconnect: boolean }>;
  /** Resolves when the socket has opened `count` times in all; rejects on a final close. */
  opened(count?: number, timeout?: number): Promise<void>;
  /** Waits until `count` messages have arrived in all. */
  receivedCount(count: number, timeout?: number): Promise<unknown[]>;
  /** The first close event not returned before, waiting for it if need be. */
  nextClose(timeout?: number): Promise<Watched['closes'][number]>;
}

/** Attaches recorders to a client socket. */
export function watch(socket: SwitchyardSocket): Watched {
  let closesTaken = 0;
  const watched: Watched = {
    socket,
    received: [],
    events: [],
    closes: [],
    async opened(count = 1, timeout = 5000) {
      await until(
        () => watched.events.filter((e) => e === 'open').length >= count || socket.readyState === socket.CLOSED,
        () => `open #${count}; events ${watched.events.join(' ')}`,
        timeout,
      );
      if (watched.events.filter((e) => e === 'open').length < count) {
        throw new Error(`closed before open #${count}: ${JSON.stringify(watched.closes)}`);
      }
    },
    async receivedCount(count, timeout = 5000) {
      await until(
        () => watched.received.length >= count,
        () => `${count} messages; got ${JSON.stringify(watched.received.map(describeData))}`,
        timeout,
      );
      return watched.received;
    },
    async nextClose(timeout = 5000) {
      const index = closesTaken++;
      await until(
        () => watched.closes.length > index,
        () => `close event #${index + 1}; events ${watched.events.join(' ')}`,
        timeout,
      );
      return watched.closes[index]!;
    },
  };
  socket.addEventListener('open', () => watched.events.push('open'));
  socket.addEventListener('error', () => watched.events.push('error'));
  socket.addEventListener('message', (event) => watched.received.push(event.data));
  socket.addEventListener('close', (event) => {
    watched.events.push(`close ${event.code}`);
    watched.closes.push({
      code: event.code,
      reason: event.reason,
      wasClean: event.wasClean,
      willReconnect: event.willReconnect,
    });
  });
  return watched;
}

/** What the server side of the echo endpoint saw. */
export interface Seen {
  opens: Array<{ transport: string; protocol: string }>;
  /** Messages in arrival order: text as is, binary as `bytes:1,2,3`. */
  messages: string[];
  closes: Array<{ transport: string; code: number; reason: string }>;
}

/**
 * An echo endpoint speaking `chat` that records what it saw. It greets every connection with
 * `welcome`, and obeys a few commands: `close:<code>:<reason>`, `terminate`, `ping`,
 * `count:<n>` (sends s1..sn, 2 ms apart).
 */
export function chatEcho(extra: Partial<Handlers<undefined>> = {}): { handlers: Handlers<undefined>; seen: Seen } {
  const seen: Seen = { opens: [], messages: [], closes: [] };
  const handlers: Handlers<undefined> = {
    protocols: ['chat'],
    heartbeat: false,
    open(ws) {
      seen.opens.push({ transport: ws.transport, protocol: ws.protocol });
      ws.send('welcome');
    },
    message(ws, data, isBinary) {
      const text = isBinary ? describeData(new Uint8Array(data as Buffer).buffer) : (data as string);
      seen.messages.push(text);
      if (isBinary) return void ws.send(data);
      const [command, a, b] = text.split(':');
      if (command === 'close') return ws.close(Number(a), b);
      if (command === 'terminate') return ws.terminate();
      if (command === 'ping') return void ws.ping('hi').then(() => ws.send('pong came back'));
      if (command === 'count') {
        let n = 0;
        const timer = setInterval(() => {
          if (ws.readyState !== 1 || ++n > Number(a)) return clearInterval(timer);
          ws.send(`s${n}`);
        }, 2);
        return undefined;
      }
      ws.send(text);
    },
    close(ws, { code, reason }) {
      seen.closes.push({ transport: ws.transport, code, reason });
    },
    ...extra,
  };
  return { handlers, seen };
}

/** The pieces one test uses; everything is closed after the test. */
export function fallbackFixture(harness: Harness) {
  const servers: Started[] = [];
  const proxies: TcpProxy[] = [];
  const sockets: SwitchyardSocket[] = [];
  afterEach(async () => {
    for (const socket of sockets.splice(0)) socket.close();
    await Promise.all(proxies.splice(0).map((proxy) => proxy.close()));
    await Promise.all(servers.splice(0).map((server) => server.close()));
  });
  return {
    async serve(mounts: Mount[]): Promise<Started> {
      const started = await start(harness, mounts);
      servers.push(started);
      return started;
    },
    async proxy(port: number, mode: ProxyMode): Promise<TcpProxy> {
      const proxy = await TcpProxy.start(port, mode);
      proxies.push(proxy);
      return proxy;
    },
    client(url: string, options: ConnectOptions): Watched {
      const socket = connect(url, options);
      sockets.push(socket);
      return watch(socket);
    },
  };
}

/** Client options for the tests: quick fallback, quick reconnection. */
export const clientOptions = (WebSocket: WebSocketConstructor, extra: ConnectOptions = {}): ConnectOptions => ({
  WebSocket,
  protocols: ['chat'],
  livenessTimeout: LIVENESS,
  reconnect: { initialDelay: 50, maxDelay: 200 },
  ...extra,
});

/** `prefix1` to `prefix<count>`. */
export const numbered = (prefix: string, count: number): string[] =>
  Array.from({ length: count }, (_, i) => `${prefix}${i + 1}`);

/** Sends `messages` a few ms apart. */
async function trickle(socket: SwitchyardSocket, messages: string[], gap = 2): Promise<void> {
  for (const message of messages) {
    socket.send(message);
    await delay(gap);
  }
}

type ChatRoom = (options?: { hub?: Hub; topic?: string }) => Handlers<{ name: string }>;

/** examples/express-chat's room, the very handlers the demos mount. */
export async function loadChatRoom(): Promise<ChatRoom> {
  const file = new URL('../../examples/express-chat/chat.js', import.meta.url).href;
  return ((await import(file)) as { chatRoom: ChatRoom }).chatRoom;
}

/** A chat echo behind a proxy in `mode`, on the fixture's servers. */
function echoBehindFor(fixture: ReturnType<typeof fallbackFixture>) {
  return async (mode: ProxyMode, extra?: Partial<Handlers<undefined>>) => {
    const { handlers, seen } = chatEcho(extra);
    const server = await fixture.serve([{ path: '/echo', handlers }]);
    const proxy = await fixture.proxy(server.port, mode);
    return { server, proxy, seen, url: proxy.url('/echo') };
  };
}

/**
 * How long a fallback takes (at once when the upgrade is refused, the liveness timeout for a black
 * hole): upper bounds on time, so these run from `*.serial.test.ts` files, alone on the machine
 * (vitest.config.ts). Under parallel load they failed by a few hundred milliseconds.
 */
export function runFallbackTiming(harness: Harness): void {
  describe(`${harness.name}: fallback to SSE + POST, timing`, () => {
    requireAssertions();
    const fixture = fallbackFixture(harness);
    const UNDICI = WEBSOCKETS[0]![1];
    const echoBehind = echoBehindFor(fixture);

    describe('each proxy mode', () => {
      for (const [name, WebSocketClass] of WEBSOCKETS) {
        for (const mode of ['pass', 'refuse-upgrade', 'drop-after-101'] as const) {
          it(`${mode}, ${name} WebSocket: messages both ways over ${EXPECTED_TRANSPORT[mode]}`, async () => {
            const { proxy, seen, url } = await echoBehind(mode);
            const started = Date.now();
            const client = fixture.client(url, clientOptions(WebSocketClass));
            await client.opened();
            const openedAfter = Date.now() - started;
            expect(client.socket.transport).toBe(EXPECTED_TRANSPORT[mode]);
            expect(client.socket.protocol).toBe('chat');
            // How long the fallback takes: a refused handshake falls back at once; a black hole
            // costs the liveness timeout, and not much more.
            if (mode === 'drop-after-101') {
              expect(openedAfter).toBeGreaterThanOrEqual(LIVENESS);
              expect(openedAfter).toBeLessThan(LIVENESS + 1500);
            } else {
              expect(openedAfter).toBeLessThan(LIVENESS);
            }
            client.socket.send('héllo ✓');
            client.socket.send(new Uint8Array([0, 1, 254, 255]));
            client.socket.send(new Blob([new Uint8Array([7, 8])]));
            client.socket.send('line1\nline2\r\n"quoted"');
            await client.receivedCount(5);
            expect(client.received.map(describeData)).toEqual([
              'welcome',
              'héllo ✓',
              'bytes:0,1,254,255',
              'bytes:7,8',
              'line1\nline2\r\n"quoted"',
            ]);
            expect(seen.messages).toEqual(['héllo ✓', 'bytes:0,1,254,255', 'bytes:7,8', 'line1\nline2\r\n"quoted"']);
            // The server's view: one connection that carries the app's traffic, on the same transport.
            const upgrades = proxy.requests.filter((r) => /websocket/i.test(r.headers.upgrade ?? ''));
            expect(upgrades).toHaveLength(1);
            expect(upgrades[0]!.target).toBe('/echo?__sy=1');
            expect(seen.opens.at(-1)).toEqual({ transport: EXPECTED_TRANSPORT[mode], protocol: 'chat' });
            expect(seen.opens.map((o) => o.transport)).toEqual(
              mode === 'drop-after-101' ? ['websocket', 'sse'] : [EXPECTED_TRANSPORT[mode]],
            );
            expect(client.events).toEqual(['open']);
          });
        }
      }
    });

    it('the liveness timeout defaults to 3 s', async () => {
      const { url } = await echoBehind('drop-after-101');
      const started = Date.now();
      const client = fixture.client(url, { WebSocket: UNDICI, protocols: ['chat'] });
      await client.opened(1, 6000);
      const openedAfter = Date.now() - started;
      expect(client.socket.transport).toBe('sse');
      expect(openedAfter).toBeGreaterThanOrEqual(3000);
      expect(openedAfter).toBeLessThan(4500);
    });

    it('after a fallback, the next connection to the endpoint goes straight to SSE', async () => {
      const { proxy, url } = await echoBehind('drop-after-101');
      const first = fixture.client(url, clientOptions(UNDICI));
      await first.opened();
      first.socket.close();
      const upgradesBefore = proxy.requests.filter((r) => r.headers.upgrade).length;
      const started = Date.now();
      const second = fixture.client(`${url}?room=2`, clientOptions(UNDICI));
      await second.opened();
      expect(Date.now() - started).toBeLessThan(LIVENESS);
      expect(second.socket.transport).toBe('sse');
      expect(proxy.requests.filter((r) => r.headers.upgrade).length).toBe(upgradesBefore);
    });
  });
}

export function runFallback(harness: Harness): void {
  describe(`${harness.name}: fallback to SSE + POST`, () => {
    requireAssertions();
    const fixture = fallbackFixture(harness);
    const UNDICI = WEBSOCKETS[0]![1];

    const echoBehind = echoBehindFor(fixture);

    it("the wire format: the stream's query and headers, POST bodies with seq and frames", async () => {
      const { proxy, url } = await echoBehind('pass');
      const client = fixture.client(`${url}?name=a%20b`, { fetch, transports: ['sse'], protocols: ['soap', 'chat'] });
      await client.opened();
      client.socket.send('one');
      await client.receivedCount(2);
      client.socket.send(new Uint8Array([1, 2, 3]));
      client.socket.send('three');
      await client.receivedCount(4);
      const [stream] = proxy.requests.filter(isStream);
      expect(stream!.target).toBe('/echo?name=a%20b&__sy=sse&__sy_protocols=soap%2Cchat');
      expect(stream!.headers.accept).toBe('text/event-stream');
      expect(stream!.headers['last-event-id']).toBeUndefined();
      const posts = proxy.requests.filter(isPost);
      // The session id travels in a header, never in the URL (access logs, proxies).
      expect(posts[0]!.target).toBe('/echo?name=a%20b&__sy=post');
      expect(posts[0]!.headers['switchyard-session']).toMatch(/^[\w-]{22}$/);
      expect(posts[0]!.headers['content-type']).toBe('text/plain;charset=UTF-8');
      const bodies = posts.map((post) => JSON.parse(post.body) as { seq: number; frames: unknown[]; ack?: number });
      // Each POST acknowledges the events the client has read so far ("welcome" is event 1).
      expect(bodies[0]).toEqual({ seq: 0, frames: [['t', 'one']], ack: 1 });
      // The binary and the text went in one POST or two; either way seq counts frames.
      expect(bodies.slice(1).flatMap((b) => b.frames)).toEqual([
        ['b', 'AQID'],
        ['t', 'three'],
      ]);
      if (bodies.length === 3) expect(bodies[2]).toMatchObject({ seq: 2, frames: [['t', 'three']] });
      else
        expect(bodies[1]).toMatchObject({
          seq: 1,
          frames: [
            ['b', 'AQID'],
            ['t', 'three'],
          ],
        });
      expect(bodies[1]!.ack).toBe(2);
    });

    it('messages sent before and during a fallback arrive once each, in order', async () => {
      const { seen, url } = await echoBehind('drop-after-101');
      const client = fixture.client(url, clientOptions(UNDICI));
      const sent = numbered('c', 150);
      // 150 messages 5 ms apart: some before the 101, most while the client waits for the
      // liveness frame, the rest over SSE.
      await trickle(client.socket, sent, 5);
      await client.receivedCount(sent.length + 1, 10_000);
      expect(client.socket.transport).toBe('sse');
      expect(seen.messages).toEqual(sent);
      expect(client.received).toEqual(['welcome', ...sent]);
    });

    it('a stream cut mid-way resumes with Last-Event-ID: nothing lost, nothing twice, no close', async () => {
      const { proxy, seen, url } = await echoBehind('pass');
      const client = fixture.client(url, clientOptions(UNDICI, { transports: ['sse'] }));
      await client.opened();
      client.socket.send('count:300');
      const sent = numbered('c', 300);
      const sending = trickle(client.socket, sent, 2);
      await client.receivedCount(80);
      expect(proxy.cut(isStream)).toBe(1);
      await client.receivedCount(300);
      // Cut everything, POSTs in flight included: they are retried with the same seq.
      proxy.cut();
      await sending;
      await client.receivedCount(1 + 300 + 300, 10_000);
      expect(seen.messages).toEqual(['count:300', ...sent]);
      const received = client.received as string[];
      expect(received.filter((m) => m.startsWith('s'))).toEqual(numbered('s', 300));
      expect(received.filter((m) => m.startsWith('c'))).toEqual(sent);
      expect(received).toHaveLength(601);
      expect(client.events).toEqual(['open']);
      const streams = proxy.requests.filter(isStream);
      expect(streams.length).toBeGreaterThanOrEqual(2);
      const session = proxy.requests.filter(isPost)[0]!.headers['switchyard-session'];
      expect(session).toMatch(/^[\w-]{22}$/);
      for (const resume of streams.slice(1)) {
        expect(resume.target).not.toContain('__sy_session');
        expect(resume.headers['switchyard-session']).toBe(session);
        expect(Number(resume.headers['last-event-id'])).toBeGreaterThan(0);
      }
      expect(seen.opens).toHaveLength(1);
    });

    it('a resume older than what the server kept is reported as a close, not passed over in silence', async () => {
      const { proxy, url } = await echoBehind('pass', { fallback: { replay: 5 } });
      const client = fixture.client(url, clientOptions(UNDICI, { transports: ['sse'] }));
      await client.opened();
      await client.receivedCount(1);
      expect(proxy.cut(isStream)).toBe(1);
      // Ten messages while the stream is down; the server keeps the last five for the resume.
      client.socket.send('count:10');
      const close = await client.nextClose(5000);
      expect(close).toMatchObject({ code: 1006, wasClean: false, willReconnect: true });
      await client.opened(2);
      const received = (await client.receivedCount(2)) as string[];
      // None of the ten may arrive late.
      await quietFor(100);
      expect(received.filter((m) => m.startsWith('s'))).toEqual([]);
      expect(received).toEqual(['welcome', 'welcome']);
    });

    it('a POST whose answer is lost is retried with the same body, and delivered once', async () => {
      const { proxy, seen, url } = await echoBehind('pass');
      const client = fixture.client(url, clientOptions(UNDICI, { transports: ['sse'] }));
      await client.opened();
      proxy.vanishNextResponse(isPost);
      client.socket.send('once');
      await client.receivedCount(2);
      client.socket.send('after');
      await client.receivedCount(3);
      expect(seen.messages).toEqual(['once', 'after']);
      expect(client.received).toEqual(['welcome', 'once', 'after']);
      const posts = proxy.requests.filter(isPost);
      expect(posts[0]!.body).toBe('{"seq":0,"frames":[["t","once"]],"ack":1}');
      expect(posts[1]!.body).toBe(posts[0]!.body);
      expect(posts.at(-1)!.body).toBe('{"seq":1,"frames":[["t","after"]],"ack":2}');
    });

    it('a session the server dropped: close 1006, then a fresh session', async () => {
      const { seen, url } = await echoBehind('pass');
      const client = fixture.client(url, clientOptions(UNDICI, { transports: ['sse'] }));
      await client.opened();
      client.socket.send('terminate');
      const close = await client.nextClose();
      expect(close).toEqual({ code: 1006, reason: 'session expired', wasClean: false, willReconnect: true });
      client.socket.send('queued while reconnecting');
      await client.opened(2);
      await client.receivedCount(3);
      expect(client.received).toEqual(['welcome', 'welcome', 'queued while reconnecting']);
      expect(seen.opens).toHaveLength(2);
      expect(client.events).toEqual(['open', 'close 1006', 'open']);
    });

    it('the server pings over SSE and the client answers with a pong', async () => {
      const { url } = await echoBehind('pass');
      const client = fixture.client(url, clientOptions(UNDICI, { transports: ['sse'] }));
      await client.opened();
      client.socket.send('ping');
      await client.receivedCount(2);
      expect(client.received).toEqual(['welcome', 'pong came back']);
    });

    for (const transport of ['websocket', 'sse'] as const) {
      describe(`closing, over ${transport}`, () => {
        const options = (): ConnectOptions => clientOptions(UNDICI, { transports: [transport] });

        it('the app closes: the server sees its code and reason, no reconnection', async () => {
          const { proxy, seen, url } = await echoBehind('pass');
          const client = fixture.client(url, options());
          await client.opened();
          client.socket.close(4000, 'done');
          expect(client.socket.readyState).toBe(client.socket.CLOSING);
          expect(await client.nextClose()).toEqual({
            code: 4000,
            reason: 'done',
            wasClean: true,
            willReconnect: false,
          });
          expect(client.socket.readyState).toBe(client.socket.CLOSED);
          await until(
            () => seen.closes.length === 1,
            () => 'the server close handler',
            2000,
          );
          expect(seen.closes).toEqual([{ transport, code: 4000, reason: 'done' }]);
          const requests = proxy.requests.length;
          // No reconnection attempt may follow.
          await quietFor(300);
          expect(proxy.requests.length).toBe(requests);
        });

        it('the server closes with an app code: no reconnection', async () => {
          const { proxy, url } = await echoBehind('pass');
          const client = fixture.client(url, options());
          await client.opened();
          client.socket.send('close:4100:bye');
          expect(await client.nextClose()).toEqual({ code: 4100, reason: 'bye', wasClean: true, willReconnect: false });
          expect(client.socket.readyState).toBe(client.socket.CLOSED);
          const requests = proxy.requests.length;
          client.socket.send('discarded');
          // No reconnection attempt, and no POST for the discarded message, may follow.
          await quietFor(300);
          expect(proxy.requests.length).toBe(requests);
          expect(client.events).toEqual(['open', 'close 4100']);
        });

        it('the server restarts (1012): the client reconnects and sends what it queued, in order', async () => {
          const { seen, url } = await echoBehind('pass');
          const client = fixture.client(url, options());
          await client.opened();
          // Queued from the close event itself: the reconnect is jittered and can come before a
          // test that polls for the close looks.
          let stateAtClose: number | undefined;
          client.socket.addEventListener(
            'close',
            () => {
              stateAtClose = client.socket.readyState;
              for (const m of numbered('q', 5)) client.socket.send(m);
            },
            { once: true },
          );
          client.socket.send('close:1012:restart');
          expect(await client.nextClose()).toEqual({
            code: 1012,
            reason: 'restart',
            wasClean: true,
            willReconnect: true,
          });
          expect(stateAtClose).toBe(client.socket.CONNECTING);
          await client.opened(2);
          await client.receivedCount(7);
          expect(client.received).toEqual(['welcome', 'welcome', ...numbered('q', 5)]);
          expect(seen.messages).toEqual(['close:1012:restart', ...numbered('q', 5)]);
          expect(client.socket.transport).toBe(transport);
        });
      });
    }

    it('shutdown of one server (1001): the client reconnects to its replacement', async () => {
      const { server, proxy, url } = await echoBehind('pass');
      const replacement = chatEcho();
      const next = await fixture.serve([{ path: '/echo', handlers: replacement.handlers }]);
      const client = fixture.client(url, clientOptions(UNDICI));
      await client.opened();
      proxy.retarget(next.port);
      await harness.shutdown(server.server);
      expect(await client.nextClose()).toMatchObject({ code: 1001, willReconnect: true });
      client.socket.send('to the new one');
      await client.opened(2);
      await client.receivedCount(3);
      expect(client.received).toEqual(['welcome', 'welcome', 'to the new one']);
      expect(replacement.seen.messages).toEqual(['to the new one']);
    });

    it('an endpoint that answers 401 gets one try per transport, then a final close', async () => {
      const { handlers } = chatEcho();
      const server = await fixture.serve([
        {
          path: '/private',
          handlers,
          guard: (req) => (req.url.includes('token=ok') ? undefined : { status: 401, body: 'Who are you?' }),
        },
      ]);
      const proxy = await fixture.proxy(server.port, 'pass');
      const client = fixture.client(proxy.url('/private'), clientOptions(UNDICI));
      const close = await client.nextClose();
      expect(close).toEqual({ code: 1006, reason: 'HTTP 401', wasClean: false, willReconnect: false });
      expect(client.socket.readyState).toBe(client.socket.CLOSED);
      expect(client.events).toEqual(['error', 'close 1006']);
      // No further attempt may follow the refused SSE one.
      await quietFor(300);
      // One SSE attempt after the handshake(s): undici's WebSocket itself sends a refused
      // handshake twice, with the same key.
      const targets = proxy.requests.map((r) => `${r.method} ${r.target}`);
      expect(targets.at(-1)).toBe('GET /private?__sy=sse&__sy_protocols=chat');
      expect(new Set(targets.slice(0, -1))).toEqual(new Set(['GET /private?__sy=1']));
      const allowed = fixture.client(proxy.url('/private?token=ok'), clientOptions(UNDICI));
      await allowed.opened();
      expect(allowed.socket.transport).toBe('websocket');
    });

    it('a server that is down: errors, retries with backoff, then gives up after maxRetries', async () => {
      const { handlers } = chatEcho();
      const server = await fixture.serve([{ path: '/echo', handlers }]);
      await server.close();
      const started = Date.now();
      // Nothing listens on the port any more: every attempt is refused at once.
      const client = fixture.client(
        `http://127.0.0.1:${server.port}/echo`,
        clientOptions(UNDICI, { reconnect: { initialDelay: 100, factor: 2, jitter: 0, maxRetries: 2 } }),
      );
      const close = await client.nextClose(5000);
      expect(close).toMatchObject({ code: 1006, wasClean: false, willReconnect: false });
      // Three attempts (the first and 2 retries), each WebSocket then SSE, 100 + 200 ms apart.
      expect(client.events).toEqual(['error', 'error', 'error', 'close 1006']);
      expect(Date.now() - started).toBeGreaterThanOrEqual(300);
    });
  });
}

/** Plain WebSocket clients on an endpoint that also serves the fallback. */
export function runPlainClients(harness: Harness): void {
  describe(`${harness.name}: plain WebSocket clients see only the app's frames`, () => {
    requireAssertions();
    const fixture = fallbackFixture(harness);
    const queries: Array<Record<string, unknown>> = [];
    const mount = (): Mount => ({
      path: '/echo',
      handlers: chatEcho({
        upgrade(req) {
          queries.push({ ...req.query });
        },
      }).handlers,
    });

    it('a ws client: "welcome" first, no liveness frame', async () => {
      const server = await fixture.serve([mount()]);
      const ws = await openWs(server.url('/echo?name=ann'), ['chat']);
      ws.send('hi');
      const inbox = messages(ws);
      expect((await inbox.next()).data.toString()).toBe('welcome');
      expect((await inbox.next()).data.toString()).toBe('hi');
      expect(inbox.all.map((m) => m.data.toString())).toEqual(['welcome', 'hi']);
      ws.close();
    });

    it("on the wire: the first frame after the 101 is the app's, unless the client asked with __sy=1", async () => {
      const server = await fixture.serve([mount()]);
      const plain = await RawClient.connect(server.port);
      plain.write(handshakeRequest('/echo', { 'Sec-WebSocket-Protocol': 'chat' }));
      await plain.until(() => plain.frames().length >= 1);
      expect(plain.frames()[0]).toMatchObject({ opcode: Opcode.TEXT });
      expect(plain.frames()[0]!.payload.toString()).toBe('welcome');
      plain.destroy();

      const asking = await RawClient.connect(server.port);
      asking.write(handshakeRequest('/echo?name=bob&__sy=1', { 'Sec-WebSocket-Protocol': 'chat' }));
      await asking.until(() => asking.frames().length >= 2);
      const [liveness, welcome] = asking.frames();
      expect(liveness).toMatchObject({ opcode: Opcode.TEXT, fin: true });
      expect([...liveness!.payload]).toEqual([0x00, 0x73, 0x79, 0x3a, 0x6f, 0x70, 0x65, 0x6e]);
      expect(liveness!.payload.toString()).toBe(LIVENESS_FRAME);
      expect(welcome!.payload.toString()).toBe('welcome');
      asking.destroy();
      // The app never sees the __sy parameters.
      expect(queries.slice(-2)).toEqual([{}, { name: 'bob' }]);
    });
  });
}

/** The chat demo's room with WebSocket turned off in the client. */
export function runChatOverSse(harness: Harness): void {
  describe(`${harness.name}: the chat example over SSE only`, () => {
    requireAssertions();
    const fixture = fallbackFixture(harness);

    it("two clients without WebSocket chat in examples/express-chat's room", async () => {
      const chatRoom = await loadChatRoom();
      const server = await fixture.serve([{ path: '/chat', handlers: chatRoom() }]);
      const proxy = await fixture.proxy(server.port, 'refuse-upgrade');
      // One client has no WebSocket class at all, the other is told to use SSE only.
      const ann = fixture.client(proxy.url('/chat?name=ann'), { WebSocket: undefined, protocols: ['chat'] });
      await ann.opened();
      const bob = fixture.client(proxy.url('/chat?name=bob'), {
        WebSocket: UndiciWebSocket as unknown as WebSocketConstructor,
        transports: ['sse'],
        protocols: ['chat'],
      });
      await bob.opened();
      expect([ann.socket.transport, bob.socket.transport]).toEqual(['sse', 'sse']);
      expect(proxy.requests.filter((r) => r.headers.upgrade)).toHaveLength(0);
      const events = (watched: Watched) =>
        watched.received.map((m) => JSON.parse(m as string) as { type: string; name: string; text?: string });
      await until(
        () => events(ann).some((e) => e.type === 'join' && e.name === 'bob'),
        () => 'bob joining',
        3000,
      );
      ann.socket.send('hi bob');
      await until(
        () => events(bob).some((e) => e.type === 'message'),
        () => "ann's message at bob's",
        3000,
      );
      bob.socket.send('hi ann');
      await until(
        () => events(ann).some((e) => e.type === 'message' && e.name === 'bob'),
        () => "bob's message at ann's",
        3000,
      );
      expect(events(ann).map((e) => [e.type, e.name, e.text])).toEqual([
        ['welcome', 'ann', undefined],
        ['join', 'ann', undefined],
        ['join', 'bob', undefined],
        ['message', 'ann', 'hi bob'],
        ['message', 'bob', 'hi ann'],
      ]);
      expect(
        events(bob)
          .filter((e) => e.type === 'message')
          .map((e) => [e.name, e.text]),
      ).toEqual([
        ['ann', 'hi bob'],
        ['bob', 'hi ann'],
      ]);
      expect(events(bob)[0]).toMatchObject({ type: 'welcome', name: 'bob', online: 2 });
      bob.socket.close();
      await until(
        () => events(ann).some((e) => e.type === 'leave'),
        () => "bob's leave",
        3000,
      );
      expect(events(ann).at(-1)).toMatchObject({ type: 'leave', name: 'bob' });
    });
  });
}
