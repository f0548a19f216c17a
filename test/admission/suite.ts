/**
 * Admission controls on every adapter: connection caps (503 / 429 with Retry-After before the
 * 101, fallback sessions counted), the handshake rate per address, the message rate per
 * connection (1008, or `limited` and a dropped message, on the WebSocket and the SSE fallback),
 * `idleTimeout` (4000) against a heartbeat-only peer, lifetimes (4001) from `maxLifetime` and
 * from the `upgrade` hook, bearer tokens as a subprotocol entry, and the `rejected` hook.
 * Handshakes that `ws` would refuse take no place; behind a trusted proxy a forwarded address
 * must be an IP; a client that ignores the close frame is cut after `closeTimeout`. Generated
 * handshake sequences against an endpoint with every cap set leave every place free.
 */
import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import { connect } from '@switchyard/client';
import type { SwitchyardSocket } from '@switchyard/client';
import type { Handlers, RejectionInfo } from '@switchyard/core';
import { CloseCode, reject } from '@switchyard/core';
import type { Harness, Mount, ServeOptions, Started } from '../harness.js';
import { start } from '../harness.js';
import {
  ACCEPT,
  Opcode,
  RawClient,
  closed,
  echo as plainEcho,
  frame,
  handshakeRequest,
  messages,
  parseHead,
  openWs,
  quietFor,
  readResponse,
  requireAssertions,
} from '../helpers.js';
import type { HttpHead } from '../helpers.js';

const echo: Handlers<undefined> = { ...plainEcho, protocols: ['chat'] };

/** The status and headers of a refused handshake. */
async function refusal(
  port: number,
  path: string,
  headers: Record<string, string | null> = {},
): Promise<{ status: number; retryAfter: string | undefined; body: string }> {
  const raw = await RawClient.connect(port);
  try {
    raw.write(handshakeRequest(path, headers));
    const response = await readResponse(raw);
    return { status: response.status, retryAfter: response.headers['retry-after'], body: response.body.trim() };
  } finally {
    raw.destroy();
  }
}

/**
 * Handshakes that core's own checks used to pass and `ws` then refused with its own 400, never
 * calling back (so the place reserved for them was never given back). Each is valid but for the
 * header named. The extension offers matter only with `compression` on.
 */
export const WS_REFUSED: ReadonlyArray<Record<string, string>> = [
  { Upgrade: 'websocket, foo' },
  { Upgrade: 'websocket, websocket' },
  { 'Sec-WebSocket-Extensions': 'permessage-deflate; server_max_window_bits=99' },
  { 'Sec-WebSocket-Extensions': 'permessage-deflate; client_max_window_bits=7' },
  { 'Sec-WebSocket-Extensions': 'permessage-deflate; foo' },
  { 'Sec-WebSocket-Extensions': 'permessage-deflate; server_no_context_takeover=1' },
  { 'Sec-WebSocket-Extensions': 'permessage-deflate; server_max_window_bits=10; server_max_window_bits=11' },
  { 'Sec-WebSocket-Extensions': 'permessage-deflate;;' },
  { 'Sec-WebSocket-Extensions': 'permessage-deflate, x=' },
  { 'Sec-WebSocket-Extensions': '"permessage-deflate"' },
];

function toBase64url(text: string): string {
  return Buffer.from(text).toString('base64url');
}

export function runAdmission(harness: Harness): void {
  runGeneratedHandshakes(harness);
  describe(`${harness.name}: admission controls`, () => {
    requireAssertions();
    const running: Started[] = [];
    const clients: Array<{ terminate(): void } | { close(): void }> = [];
    const serve = async (mounts: Mount[], options?: ServeOptions): Promise<Started> => {
      const started = await start(harness, mounts, options);
      running.push(started);
      return started;
    };
    const track = <T extends WebSocket | SwitchyardSocket>(client: T): T => {
      clients.push(client);
      return client;
    };
    afterEach(async () => {
      for (const client of clients.splice(0)) {
        if ('terminate' in client) client.terminate();
        else client.close();
      }
      await Promise.all(running.splice(0).map((s) => s.close()));
    });

    it('maxConnections: the next handshake gets 503 with Retry-After, and a freed place is taken again', async () => {
      const s = await serve([{ path: '/capped', handlers: { ...echo, maxConnections: 2 } }]);
      const first = track(await openWs(s.url('/capped'), 'chat'));
      track(await openWs(s.url('/capped'), 'chat'));
      expect(await refusal(s.port, '/capped')).toEqual({
        status: 503,
        retryAfter: '1',
        body: 'This endpoint is full (2 connections)',
      });
      first.close();
      await closed(first);
      await vi.waitFor(async () => {
        const again = await openWs(s.url('/capped'), 'chat');
        track(again);
      });
    });

    it('maxConnections counts fallback sessions like sockets', async () => {
      const s = await serve([{ path: '/capped', handlers: { ...echo, maxConnections: 1 } }]);
      const sse = track(
        connect(s.url('/capped').replace('ws:', 'http:'), {
          transports: ['sse'],
          protocols: ['chat'],
          reconnect: false,
        }),
      );
      await new Promise((resolve) => sse.addEventListener('open', resolve, { once: true }));
      expect(sse.transport).toBe('sse');
      expect((await refusal(s.port, '/capped')).status).toBe(503);
      sse.close();
      await vi.waitFor(async () => track(await openWs(s.url('/capped'), 'chat')));
    });

    it('maxConnectionsPerAddress: 429 with Retry-After; X-Forwarded-For from an untrusted peer changes nothing', async () => {
      const s = await serve([{ path: '/per', handlers: { ...echo, maxConnectionsPerAddress: 1 } }]);
      track(await openWs(s.url('/per'), 'chat', { headers: { 'x-forwarded-for': '203.0.113.1' } }));
      const second = await refusal(s.port, '/per', { 'X-Forwarded-For': '203.0.113.2' });
      expect(second.status).toBe(429);
      expect(second.retryAfter).toBe('1');
      expect(second.body).toMatch(/^Too many connections from .*127\.0\.0\.1/);
    });

    it('handshakeRate: a burst passes, the next handshake gets 429 with the seconds until a token', async () => {
      const s = await serve([
        { path: '/rate', handlers: { ...echo, handshakeRate: { handshakes: 1, per: 2000, burst: 3 } } },
      ]);
      for (let i = 0; i < 3; i++) track(await openWs(s.url('/rate'), 'chat')).terminate();
      const over = await refusal(s.port, '/rate');
      expect(over.status).toBe(429);
      expect(Number(over.retryAfter)).toBeGreaterThanOrEqual(1);
      expect(Number(over.retryAfter)).toBeLessThanOrEqual(2);
      expect(over.body).toMatch(/^Too many handshakes from /);
    });

    it('rateLimit: over the message rate, the connection closes with 1008 and later messages are not delivered', async () => {
      const seen: string[] = [];
      const s = await serve([
        {
          path: '/chatty',
          handlers: {
            ...echo,
            rateLimit: { messages: 5, per: 60_000 },
            message(ws, data) {
              seen.push(String(data));
              ws.send(data);
            },
          },
        },
      ]);
      const ws = track(await openWs(s.url('/chatty'), 'chat'));
      const wsClosed = closed(ws);
      for (let i = 0; i < 8; i++) ws.send(`m${i}`);
      expect(await wsClosed).toEqual({ code: CloseCode.POLICY_VIOLATION, reason: 'Rate limit exceeded' });
      expect(seen).toEqual(['m0', 'm1', 'm2', 'm3', 'm4']);
    });

    it('rateLimit with a limited hook: the message is dropped, the hook sees it, the connection stays', async () => {
      const dropped: string[] = [];
      const s = await serve([
        {
          path: '/limited',
          handlers: {
            ...echo,
            rateLimit: { messages: 2, per: 60_000, bytes: 10, burstBytes: 10 },
            limited(_ws, data) {
              dropped.push(String(data));
            },
          },
        },
      ]);
      const ws = track(await openWs(s.url('/limited'), 'chat'));
      const inbox = messages(ws);
      ws.send('abcd');
      ws.send('efghijklmn');
      ws.send('x');
      expect((await inbox.next()).data.toString()).toBe('abcd');
      // 'efghijklmn' passes the message rate but not the bytes left (6); 'x' passes both.
      expect((await inbox.next()).data.toString()).toBe('x');
      expect(dropped).toEqual(['efghijklmn']);
      ws.send('y');
      await vi.waitFor(() => expect(dropped).toEqual(['efghijklmn', 'y']));
      expect(ws.readyState).toBe(WebSocket.OPEN);
    });

    it('rateLimit applies to the SSE fallback the same way', async () => {
      const s = await serve([{ path: '/chatty', handlers: { ...echo, rateLimit: { messages: 3, per: 60_000 } } }]);
      const sse = track(
        connect(s.url('/chatty').replace('ws:', 'http:'), {
          transports: ['sse'],
          protocols: ['chat'],
          reconnect: false,
        }),
      );
      await new Promise((resolve) => sse.addEventListener('open', resolve, { once: true }));
      const ended = new Promise<{ code: number; reason: string }>((resolve) =>
        sse.addEventListener('close', (e) => resolve({ code: e.code, reason: e.reason }), { once: true }),
      );
      const echoed: string[] = [];
      sse.addEventListener('message', (e) => echoed.push(String(e.data)));
      for (let i = 0; i < 5; i++) sse.send(`m${i}`);
      expect(await ended).toEqual({ code: CloseCode.POLICY_VIOLATION, reason: 'Rate limit exceeded' });
      expect(echoed).toEqual(['m0', 'm1', 'm2']);
    });

    it('idleTimeout closes a heartbeat-only peer with 4000, and spares one that talks', async () => {
      const s = await serve([
        { path: '/idle', handlers: { ...echo, idleTimeout: 400, heartbeat: { interval: 50, timeout: 1000 } } },
      ]);
      const quiet = track(await openWs(s.url('/idle'), 'chat'));
      // The quiet peer's idle time starts at its open, not after the talker's (which can take a
      // few hundred ms on a busy machine).
      const started = Date.now();
      const talker = track(await openWs(s.url('/idle'), 'chat'));
      const quietClosed = closed(quiet);
      const timer = setInterval(() => talker.send('still here'), 100);
      try {
        expect(await quietClosed).toEqual({ code: CloseCode.IDLE_TIMEOUT, reason: 'Idle timeout' });
        expect(Date.now() - started).toBeGreaterThanOrEqual(350);
        // The talker outlives the idle timeout.
        await quietFor(500);
        expect(talker.readyState).toBe(WebSocket.OPEN);
      } finally {
        clearInterval(timer);
      }
    });

    it('lifetimes: maxLifetime, or sooner the expiresAt the upgrade hook returned, close with 4001', async () => {
      const s = await serve([
        {
          path: '/expiring',
          handlers: {
            ...echo,
            maxLifetime: 1500,
            upgrade(req) {
              return { context: { user: 'ann' }, expiresAt: req.query.short ? Date.now() + 300 : undefined };
            },
          } as Handlers<{ user: string }>,
        },
      ]);
      const short = track(await openWs(s.url('/expiring?short=1'), 'chat'));
      const long = track(await openWs(s.url('/expiring'), 'chat'));
      const started = Date.now();
      expect(await closed(short)).toEqual({ code: CloseCode.EXPIRED, reason: 'Connection lifetime expired' });
      expect(Date.now() - started).toBeLessThan(1200);
      expect(long.readyState).toBe(WebSocket.OPEN);
      expect(await closed(long)).toEqual({ code: CloseCode.EXPIRED, reason: 'Connection lifetime expired' });
      expect(Date.now() - started).toBeGreaterThanOrEqual(1400);
    });

    it('a bearer token as a subprotocol entry reaches the hook, and only the real protocol is echoed', async () => {
      const tokens: Array<string | undefined> = [];
      const offers: string[][] = [];
      const s = await serve([
        {
          path: '/auth',
          handlers: {
            ...echo,
            upgrade(req) {
              tokens.push(req.bearerToken);
              offers.push(req.protocols);
              if (req.bearerToken !== 'sécret.token/+=')
                throw reject(401, 'Unauthorized', { 'WWW-Authenticate': 'Bearer' });
              return undefined;
            },
          },
        },
      ]);
      const entry = `base64url.bearer.${toBase64url('sécret.token/+=')}`;
      const raw = await RawClient.connect(s.port);
      raw.write(handshakeRequest('/auth', { 'Sec-WebSocket-Protocol': `chat, ${entry}` }));
      const head = await raw.response();
      raw.destroy();
      expect(head.status).toBe(101);
      expect(head.headers['sec-websocket-protocol']).toBe('chat');
      const ws = track(await openWs(s.url('/auth'), ['chat', entry]));
      expect(ws.protocol).toBe('chat');
      expect(tokens).toEqual(['sécret.token/+=', 'sécret.token/+=']);
      expect(offers).toEqual([['chat'], ['chat']]);
      expect(
        (await refusal(s.port, '/auth', { 'Sec-WebSocket-Protocol': `chat, base64url.bearer.${toBase64url('wrong')}` }))
          .status,
      ).toBe(401);
      // A token alone would make the 101 name no subprotocol, which browsers fail.
      expect(await refusal(s.port, '/auth', { 'Sec-WebSocket-Protocol': entry })).toMatchObject({
        status: 400,
        body: 'A bearer token subprotocol must be offered next to a real subprotocol',
      });
      // The Authorization header works too (what the fallback's fetch requests send).
      track(await openWs(s.url('/auth'), 'chat', { headers: { Authorization: 'Bearer sécret.token/+=' } }));
    });

    for (const transport of ['websocket', 'sse'] as const) {
      it(`@switchyard/client's token option over ${transport}: the hook gets it, no URL carries it, and a 4001 reconnects with a fresh one`, async () => {
        const tokens: Array<string | undefined> = [];
        const s = await serve([
          {
            path: '/auth',
            handlers: {
              ...echo,
              upgrade(req) {
                tokens.push(req.bearerToken);
                if (!req.bearerToken?.startsWith('token-')) throw reject(401, 'Unauthorized');
                // The first token expires soon after the connection opens.
                return { context: undefined, expiresAt: req.bearerToken === 'token-1' ? Date.now() + 300 : undefined };
              },
            },
          },
        ]);
        const urls: string[] = [];
        const recordingFetch: typeof fetch = (input, init) => {
          urls.push(String(input instanceof Request ? input.url : input));
          return fetch(input, init);
        };
        // A token stays the same until it expires; the 4001 makes the app fetch the next one.
        let current = 'token-1';
        const ClientWebSocket = class extends WebSocket {
          constructor(url: string, protocols?: string | string[]) {
            urls.push(url);
            super(url, protocols);
          }
        };
        const socket = track(
          connect(s.url('/auth').replace('ws:', 'http:'), {
            protocols: ['chat'],
            transports: [transport],
            WebSocket: ClientWebSocket as never,
            fetch: recordingFetch,
            reconnect: { initialDelay: 20, maxDelay: 50 },
            token: () => current,
          }),
        );
        const closes: number[] = [];
        socket.addEventListener('close', (e) => {
          closes.push(e.code);
          if (e.code === CloseCode.EXPIRED) current = 'token-2';
        });
        const echoed: string[] = [];
        socket.addEventListener('message', (e) => echoed.push(String(e.data)));
        await new Promise((resolve) => socket.addEventListener('open', resolve, { once: true }));
        expect(socket.protocol).toBe('chat');
        await vi.waitFor(() => expect(closes).toContain(CloseCode.EXPIRED), { timeout: 3000 });
        await vi.waitFor(() => expect(tokens).toContain('token-2'), { timeout: 3000 });
        socket.send('after the reconnect');
        await vi.waitFor(() => expect(echoed).toContain('after the reconnect'));
        expect(tokens[0]).toBe('token-1');
        expect(tokens).toContain('token-2');
        for (const url of urls) expect(url).not.toMatch(/token-/);
      });
    }

    it('handshakes that ws would refuse get 400 from core before any place is taken, and each reaches rejected', async () => {
      const seen: RejectionInfo[] = [];
      const s = await serve([
        {
          path: '/full',
          handlers: {
            ...echo,
            compression: true,
            maxConnections: 2,
            maxConnectionsPerAddress: 2,
            rejected(info) {
              seen.push(info);
            },
          },
        },
      ]);
      for (const headers of WS_REFUSED) {
        const answer = await refusal(s.port, '/full', { 'Sec-WebSocket-Protocol': 'chat', ...headers });
        expect({ headers, status: answer.status }).toEqual({ headers, status: 400 });
      }
      await vi.waitFor(() => expect(seen).toHaveLength(WS_REFUSED.length));
      expect(seen.map((info) => info.status)).toEqual(WS_REFUSED.map(() => 400));
      expect(seen[0]!.reason).toBe('Invalid Upgrade header: expected exactly "websocket"');
      expect(seen[2]!.reason).toMatch(/^Invalid Sec-WebSocket-Extensions header: /);
      // Every place is still free: as many clients as the caps allow still fit.
      track(await openWs(s.url('/full'), 'chat', { perMessageDeflate: true }));
      track(await openWs(s.url('/full'), 'chat'));
      expect((await refusal(s.port, '/full')).status).toBe(503);
    });

    it('with trust proxy on, handshakes that ws would refuse, sent under a forged X-Forwarded-For, lock nobody out', async () => {
      const s = await serve([{ path: '/per', handlers: { ...echo, compression: true, maxConnectionsPerAddress: 3 } }], {
        trustProxy: true,
      });
      const victim = { 'X-Forwarded-For': '203.0.113.7' };
      for (const headers of WS_REFUSED.slice(0, 3))
        expect(
          (await refusal(s.port, '/per', { ...victim, 'Sec-WebSocket-Protocol': 'chat', ...headers })).status,
        ).toBe(400);
      for (let i = 0; i < 3; i++) track(await openWs(s.url('/per'), 'chat', { headers: victim }));
      const fourth = await refusal(s.port, '/per', { ...victim, 'Sec-WebSocket-Protocol': 'chat' });
      expect(fourth.status).toBe(429);
      expect(fourth.body).toBe('Too many connections from 203.0.113.7 (at most 3)');
    });

    it('with trust proxy on, a forwarded address that is not an IP gets 400 and is not kept; an IP passes', async () => {
      const seen: RejectionInfo[] = [];
      const s = await serve(
        [
          {
            path: '/per',
            handlers: {
              ...echo,
              maxConnectionsPerAddress: 1,
              handshakeRate: { handshakes: 100 },
              rejected(info) {
                seen.push(info);
              },
            },
          },
        ],
        { trustProxy: true },
      );
      const forged = `${'a'.repeat(4096)}`;
      const answer = await refusal(s.port, '/per', { 'X-Forwarded-For': forged, 'Sec-WebSocket-Protocol': 'chat' });
      expect(answer).toMatchObject({ status: 400, body: 'The client address is not an IP address' });
      await vi.waitFor(() => expect(seen.map((info) => info.status)).toEqual([400]));
      track(await openWs(s.url('/per'), 'chat', { headers: { 'X-Forwarded-For': '2001:db8::1' } }));
      expect((await refusal(s.port, '/per', { 'X-Forwarded-For': '2001:db8::1' })).status).toBe(429);
    });

    it('closeTimeout: a client that never answers the close frame is cut after closeTimeout, and its place is free again', async () => {
      const s = await serve([
        {
          path: '/closing',
          handlers: {
            ...echo,
            maxConnections: 1,
            heartbeat: false,
            closeTimeout: 300,
            message(ws) {
              ws.close(CloseCode.NORMAL, 'bye');
            },
          },
        },
      ]);
      const raw = await RawClient.connect(s.port);
      try {
        raw.write(handshakeRequest('/closing', { 'Sec-WebSocket-Protocol': 'chat' }));
        expect((await raw.response()).status).toBe(101);
        raw.write(frame(Opcode.TEXT, 'leaving?'));
        await raw.until(() => raw.frames().some((f) => f.opcode === Opcode.CLOSE));
        const sent = Date.now();
        // The client never answers the close frame; ws alone would wait 30 s.
        await raw.waitClosed(5000);
        expect(Date.now() - sent).toBeGreaterThanOrEqual(250);
        await vi.waitFor(async () => track(await openWs(s.url('/closing'), 'chat')));
      } finally {
        raw.destroy();
      }
    });

    it('the rejected hook sees every refusal core makes, with its status and reason', async () => {
      const seen: RejectionInfo[] = [];
      const s = await serve([
        {
          path: '/watched',
          handlers: {
            ...echo,
            origins: ['https://good.example'],
            maxConnections: 1,
            upgrade(req) {
              if (req.query.deny) throw reject(401, 'No entry');
            },
            rejected(info) {
              seen.push(info);
            },
          },
        },
      ]);
      track(await openWs(s.url('/watched'), 'chat'));
      await refusal(s.port, '/watched?token=secret', { 'Sec-WebSocket-Key': 'short' });
      await refusal(s.port, '/watched', { Origin: 'https://evil.example' });
      await refusal(s.port, '/watched', { 'Sec-WebSocket-Version': '8' });
      await refusal(s.port, '/watched');
      await vi.waitFor(() => expect(seen.map((r) => r.status)).toEqual([400, 403, 426, 503]));
      expect(seen[0]).toMatchObject({ path: '/watched', remoteAddress: expect.stringContaining('127.0.0.1') });
      expect(seen[1]!.reason).toBe('Origin https://evil.example is not allowed');
      expect(seen[3]!.reason).toBe('This endpoint is full (1 connections)');
    });

    it('the rejected hook sees a reject() from the upgrade hook; a throwing rejected hook is only logged', async () => {
      const log = vi.spyOn(console, 'error').mockImplementation(() => {});
      const seen: number[] = [];
      const s = await serve([
        {
          path: '/hooked',
          handlers: {
            ...echo,
            upgrade() {
              throw reject(401, 'No entry');
            },
            rejected(info) {
              seen.push(info.status);
              throw new Error('logger down');
            },
          },
        },
      ]);
      expect((await refusal(s.port, '/hooked')).status).toBe(401);
      expect(seen).toEqual([401]);
      await vi.waitFor(() => expect(String(log.mock.calls.flat().join(' '))).toContain('logger down'));
      log.mockRestore();
    });
  });
}

/**
 * Runs of the generated handshake sequences, about 0.3 s each on the shared CI machine (20 runs:
 * ~6 s per adapter); SWITCHYARD_FUZZ_RUNS raises it for long local runs.
 */
const RUNS = Number(process.env.SWITCHYARD_FUZZ_RUNS ?? 20);
/** Fixed in CI, so that a failure is reproducible; SWITCHYARD_FUZZ_SEED picks another. */
const SEED = Number(process.env.SWITCHYARD_FUZZ_SEED ?? 20261130);

/** The caps of the generated suite's endpoint: every one set, small enough to fill. */
const CAPS = { maxConnections: 4, maxConnectionsPerAddress: 2 };

/** The addresses of the fresh clients that check the places came back (198.51.0.0/16). */
const FRESH = '198.51.';

/** What a generated client does around its handshake. */
type Exit =
  /** Reads the whole answer, then leaves. */
  | 'read'
  /** Leaves as soon as its request is written (during the `upgrade` hook, often). */
  | 'leave-after-request'
  /** Leaves halfway through its request head. */
  | 'leave-mid-request'
  /** Half-closes (FIN) right after its request, then reads whatever comes. */
  | 'half-close'
  /** After a 101, keeps the connection open until the sequence ends. */
  | 'keep'
  /** After a 101, makes the server close, then never answers the close frame. */
  | 'ignore-close';

interface Step {
  headers: Record<string, string | null>;
  address: string;
  delay: 0 | 5 | 20;
  exit: Exit;
}

/** Header values built from the characters that matter to ws's parsers. */
const headerValue = fc.stringMatching(/^[a-z0-9_=;,". -]{0,30}$/);

const step: fc.Arbitrary<Step> = fc.record({
  headers: fc.oneof(
    { weight: 3, arbitrary: fc.constant({ 'Sec-WebSocket-Protocol': 'chat' }) },
    {
      weight: 2,
      arbitrary: fc
        .constantFrom(...WS_REFUSED)
        .map((headers) => ({ 'Sec-WebSocket-Protocol': 'chat', ...headers }) as Record<string, string | null>),
    },
    fc.constantFrom<Record<string, string | null>>(
      { 'Sec-WebSocket-Key': 'short' },
      { 'Sec-WebSocket-Version': '8' },
      { 'Sec-WebSocket-Version': null },
      { 'Sec-WebSocket-Key': null },
      { 'Sec-WebSocket-Protocol': 'chat,,x' },
      { 'Sec-WebSocket-Protocol': 'other' },
      { Upgrade: 'h2c, websocket' },
      { Upgrade: 'WebSocket', 'Sec-WebSocket-Protocol': 'chat' },
    ),
    headerValue.map((value) => ({ 'Sec-WebSocket-Protocol': 'chat', 'Sec-WebSocket-Extensions': value })),
    headerValue.map((value) => ({ 'Sec-WebSocket-Protocol': value })),
    // Every spelling lists the websocket token: without it, the request is not core's to answer.
    fc
      .constantFrom('WEBSOCKET', 'websocket, foo', 'foo, websocket', 'websocket,websocket', 'websocket ,h2c')
      .map((upgrade) => ({ 'Sec-WebSocket-Protocol': 'chat', Upgrade: upgrade })),
  ),
  // Forged X-Forwarded-For, trusted: two addresses to fill a per-address cap, and one that is no IP.
  address: fc.constantFrom('203.0.113.1', '203.0.113.2', '2001:db8::7', 'not-an-ip'),
  delay: fc.constantFrom(0 as const, 5 as const, 20 as const),
  exit: fc.constantFrom<Exit>(
    'read',
    'read',
    'leave-after-request',
    'leave-mid-request',
    'half-close',
    'keep',
    'ignore-close',
  ),
});

/** An answer to a handshake, checked to be well-formed HTTP: a valid 101, or a complete response. */
function expectWellFormed(head: HttpHead, body: string, rest: Buffer): void {
  expect(head.statusLine).toMatch(/^HTTP\/1\.1 [1-5]\d\d [^\r\n]*$/);
  if (head.status === 101) {
    expect(head.headers['sec-websocket-accept']).toBe(ACCEPT);
    expect(head.headers.upgrade?.toLowerCase()).toBe('websocket');
    return;
  }
  expect(rest.length).toBe(0);
  expect(Number(head.headers['content-length'])).toBe(Buffer.byteLength(body));
}

/**
 * Generated handshake sequences against an endpoint with every cap set (fast-check, shrinking):
 * valid handshakes, handshakes ws would refuse, malformed and generated headers, forged
 * addresses, disconnects at each step and clients that ignore the close frame. Afterwards as
 * many fresh clients as the caps allow still fit, every answer was well-formed HTTP, every
 * refusal reached `rejected` (and none twice), and the process lives.
 */
export function runGeneratedHandshakes(harness: Harness): void {
  describe(`${harness.name}: generated handshakes against every cap (${RUNS} runs, seed ${SEED})`, () => {
    requireAssertions();

    it('after any sequence, fresh clients still fit and every refusal reached rejected once', async () => {
      let run = 0;
      await fc.assert(
        fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 7 }), async (steps) => {
          run++;
          const seen: RejectionInfo[] = [];
          const s = await start(
            harness,
            [
              {
                path: '/capped',
                handlers: {
                  ...echo,
                  ...CAPS,
                  compression: true,
                  heartbeat: false,
                  closeTimeout: 150,
                  handshakeRate: { handshakes: 20, per: 1000, burst: 5 },
                  rateLimit: { messages: 50, per: 1000 },
                  async upgrade(req) {
                    const delay = Number(req.query.delay ?? 0);
                    if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay));
                  },
                  message(ws) {
                    ws.close(CloseCode.NORMAL, 'bye');
                  },
                  rejected(info) {
                    seen.push(info);
                  },
                },
              },
            ],
            { trustProxy: true },
          );
          const held: RawClient[] = [];
          const ignoring: RawClient[] = [];
          const answers: number[] = [];
          try {
            for (const { headers, address, delay, exit } of steps) {
              const raw = await RawClient.connect(s.port);
              held.push(raw);
              const request = handshakeRequest(`/capped?delay=${delay}`, { ...headers, 'X-Forwarded-For': address });
              if (exit === 'leave-mid-request') {
                raw.write(request.slice(0, request.length >> 1));
                raw.destroy();
                continue;
              }
              raw.write(request);
              if (exit === 'leave-after-request') {
                raw.destroy();
                continue;
              }
              if (exit === 'half-close') {
                raw.socket.end();
                // An answer, or none (the server may take the FIN as the client leaving); each is fine.
                await raw.waitClosed(5000).catch(() => {});
                if (raw.received.includes('\r\n\r\n')) {
                  const head = parseHead(raw.received.subarray(0, raw.received.indexOf('\r\n\r\n')).toString('latin1'));
                  expect(head.statusLine).toMatch(/^HTTP\/1\.1 [1-5]\d\d /);
                }
                raw.destroy();
                continue;
              }
              const head = await raw.response(5000);
              if (head.status === 101) {
                answers.push(101);
                expectWellFormed(head, '', head.rest);
                if (exit === 'ignore-close') {
                  raw.write(frame(Opcode.TEXT, 'close, please'));
                  ignoring.push(raw);
                } else if (exit === 'read') raw.destroy();
                continue;
              }
              const { body } = await readResponse(raw);
              answers.push(head.status);
              expectWellFormed(head, body, Buffer.alloc(0));
              raw.destroy();
            }
            // Clients that ignore the close frame are cut by the server after closeTimeout.
            for (const raw of ignoring) {
              await raw.until(() => raw.frames().some((f) => f.opcode === Opcode.CLOSE), 5000);
              await raw.waitClosed(5000);
            }
            for (const raw of held) raw.destroy();

            // Every place comes back: as many fresh clients as maxConnections allows, each from
            // an address of its own (the handshake rate is per address).
            const fresh: WebSocket[] = [];
            try {
              for (let i = 0; i < CAPS.maxConnections; i++) {
                const headers = { 'X-Forwarded-For': `${FRESH}${run % 250}.${i + 1}` };
                await vi.waitFor(async () => fresh.push(await openWs(s.url('/capped'), 'chat', { headers })), {
                  timeout: 5000,
                  interval: 100,
                });
              }
            } finally {
              for (const client of fresh) client.terminate();
            }

            // Every answer other than a 101 reached `rejected` with its status; nothing twice. The
            // fresh clients' own retries (a place still held by a client whose hook runs) don't count.
            const ofSteps = (): RejectionInfo[] => seen.filter((info) => !info.remoteAddress?.startsWith(FRESH));
            await vi.waitFor(() => {
              for (const status of new Set(answers.filter((one) => one !== 101))) {
                const answered = answers.filter((one) => one === status).length;
                expect(ofSteps().filter((info) => info.status === status).length).toBeGreaterThanOrEqual(answered);
              }
            });
            const upgraded = answers.filter((one) => one === 101).length;
            expect(ofSteps().length).toBeLessThanOrEqual(steps.length - upgraded);
          } finally {
            for (const raw of held) raw.destroy();
            await s.close();
          }
        }),
        // Shrinking replays failing sequences, each up to a few seconds of waiting: bounded.
        { numRuns: RUNS, seed: SEED, endOnFailure: false, interruptAfterTimeLimit: 45_000 },
      );
    }, 90_000);
  });
}
