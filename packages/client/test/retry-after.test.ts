/**
 * `Retry-After`: parsing (both forms, the cap, what is not one), and the socket honouring it on
 * every request a server can refuse: the WebSocket handshake (with `ws`, which shows the answer),
 * a new SSE session, a resume of the stream and a POST. A refused attempt never starts the
 * backoff over, and never costs a resuming client its position.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { WebSocket as UndiciWebSocket } from 'undici';
import WebSocket from 'ws';
import { DEFAULT_RECONNECT, retryAfterDelay } from '../src/backoff.js';
import { connect } from '../src/index.js';
import type { ConnectOptions, WebSocketConstructor } from '../src/index.js';
import { MAX_RETRY_AFTER, parseRetryAfter, retryAfterOf } from '../src/retry-after.js';
import { ScriptedServer, openStream } from './scripted-server.js';
import { until } from '../../../test/helpers.js';

const WS = WebSocket as unknown as WebSocketConstructor;
const NOW = Date.UTC(2026, 11, 7, 12, 0, 0);
const OPEN = (session: string): string => `retry: 50\n\nevent: open\ndata: ${JSON.stringify({ session })}\n\n`;
const MESSAGE = (id: number, text: string): string => `id: ${id}\ndata: ${JSON.stringify(text)}\n\n`;
/** A topic message of a recoverable connection, at position 5-0 of topic `feed`. */
const ENVELOPED = '\u0000sy:m["feed","5-0","e",5]\nhello';
const SESSION = '\u0000sy:session{"id":"sess1","recovered":false,"unrecoverable":[]}';
const RESUME = { s: 'sess1', p: { feed: ['5-0', 'e', 5] } };
/** Quick retries, no jitter: without Retry-After, every retry comes within 50 ms. */
const quick = (extra: ConnectOptions = {}): ConnectOptions => ({
  WebSocket: WS,
  livenessTimeout: 1000,
  reconnect: { initialDelay: 20, maxDelay: 50, jitter: 0 },
  ...extra,
});
const decodeResume = (header: unknown): unknown => JSON.parse(Buffer.from(String(header), 'base64url').toString());

describe('parseRetryAfter', () => {
  it.each([
    ['0', 0],
    ['1', 1000],
    [' 2 ', 2000],
    ['60', 60_000],
    ['61', MAX_RETRY_AFTER],
    ['99999999999999999999999', MAX_RETRY_AFTER],
    ['Mon, 07 Dec 2026 12:00:30 GMT', 30_000],
    ['Monday, 07-Dec-26 12:00:30 GMT', 30_000],
    ['Mon Dec  7 12:00:30 2026', 30_000],
    ['Mon, 07 Dec 2026 11:00:00 GMT', 0],
    ['Mon, 07 Dec 2027 12:00:00 GMT', MAX_RETRY_AFTER],
    ['', undefined],
    ['-1', undefined],
    ['1.5', undefined],
    ['+3', undefined],
    ['0x10', undefined],
    ['soon', undefined],
    ['Mon, 31 Feb 2026 12:00:30 GMT', undefined],
    ['Mon, 07 Dec 2026 25:00:30 GMT', undefined],
    ['Mon, 07 Dec 2026 12:00:30 UTC', undefined],
    ['2026-12-07T12:00:30Z', undefined],
  ])('%j asks for %j ms', (header, expected) => expect(parseRetryAfter(header, NOW)).toBe(expected));

  it('no header asks for nothing', () => {
    expect(parseRetryAfter(null, NOW)).toBe(undefined);
    expect(parseRetryAfter(undefined, NOW)).toBe(undefined);
  });

  it('an RFC 850 year more than 50 years ahead is in the past century', () =>
    expect(parseRetryAfter('Sunday, 06-Nov-94 08:49:37 GMT', NOW)).toBe(0));

  it('whatever the header, never throws and never asks for more than the cap (fast-check, 1000 runs)', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc.nat().map(String),
          fc.date({ noInvalidDate: true }).map((date) => date.toUTCString()),
        ),
        (header) => {
          const wait = parseRetryAfter(header, NOW);
          expect(wait === undefined || (wait >= 0 && wait <= MAX_RETRY_AFTER)).toBe(true);
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('is honoured on 503 and 429 only', () => {
    expect(retryAfterOf(503, '1', NOW)).toBe(1000);
    expect(retryAfterOf(429, '2', NOW)).toBe(2000);
    for (const status of [200, 301, 400, 404, 500, 502]) expect(retryAfterOf(status, '1', NOW)).toBe(undefined);
  });
});

describe('retryAfterDelay', () => {
  it('waits at least what was asked and the backoff, spread up to jitter times longer', () => {
    const options = { ...DEFAULT_RECONNECT, jitter: 0.5 };
    expect(retryAfterDelay(1000, 20, options, () => 0)).toBe(1000);
    expect(retryAfterDelay(1000, 20, options, () => 0.999999)).toBe(1500);
    expect(retryAfterDelay(1000, 4000, options, () => 0.5)).toBe(4000);
    expect(retryAfterDelay(1000, 20, { ...options, jitter: 0 }, () => 0.7)).toBe(1000);
  });
});

describe('the socket honours Retry-After', () => {
  it('on the WebSocket handshake (ws shows it): the next attempt waits, with no SSE fallback, and the resume token is kept', async () => {
    const server = await ScriptedServer.start();
    server.handshake = (_url, index) => (index === 1 ? { status: 503, headers: { 'Retry-After': '1' } } : undefined);
    server.onConnection = (ws, index) => {
      if (index !== 0) return;
      ws.send(ENVELOPED);
      ws.send(SESSION);
      // A restart: the client comes back at once and is refused.
      setTimeout(() => ws.close(1012, 'restart'), 50);
    };
    const socket = connect(server.url(), quick({ recover: true, transports: ['websocket', 'sse'] }));
    await until(() => server.connections.length === 2, 'the attempt after the refusal', 5000);
    const [, refused, accepted] = server.handshakes;
    expect(accepted!.at - refused!.at).toBeGreaterThanOrEqual(1000);
    // The server answered: WebSockets get through, and SSE is not tried.
    expect(server.requests).toEqual([]);
    await until(() => server.connections[1]!.received.length > 0, 'the resume token');
    expect(JSON.parse(server.connections[1]!.received[0]!.slice('\u0000sy:resume'.length))).toEqual(RESUME);
    socket.close();
  });

  it("where the WebSocket's answer can't be read (undici's, as a browser's): the SSE fallback's 503 is honoured", async () => {
    const server = await ScriptedServer.start();
    const refusal = { status: 503, headers: { 'Retry-After': '1' } };
    server.handshake = (_url, index) => (index === 0 ? refusal : undefined);
    server.stream = (res) => res.writeHead(refusal.status, refusal.headers).end();
    const socket = connect(
      server.url(),
      quick({ WebSocket: UndiciWebSocket as unknown as WebSocketConstructor, transports: ['websocket', 'sse'] }),
    );
    await until(() => server.connections.length === 1, 'the WebSocket after the wait', 5000);
    // The refused handshake looked like a blocked WebSocket: SSE was tried at once, and refused too.
    const [stream] = server.streamRequests();
    expect(server.streamRequests()).toHaveLength(1);
    expect(server.handshakes[1]!.at - server.handshakes[0]!.at).toBeGreaterThanOrEqual(1000);
    expect(stream).toBeDefined();
    socket.close();
  });

  it('on a new SSE session refused with 503: the next one waits, and carries the same resume position', async () => {
    const server = await ScriptedServer.start();
    const times: number[] = [];
    server.stream = (res, _request, index) => {
      times.push(Date.now());
      if (index === 0) {
        openStream(res, OPEN('s1') + MESSAGE(1, ENVELOPED) + MESSAGE(2, SESSION));
        setTimeout(() => res.end(), 50);
      } else if (index === 1) {
        // The node lost the fallback session: the client opens a new one that resumes the durable one...
        res.writeHead(404).end();
      } else if (index === 2) {
        // ...while the session store is down.
        res.writeHead(503, { 'Retry-After': '1' }).end();
      } else {
        openStream(res, OPEN('s2'));
      }
    };
    const socket = connect(server.url(), quick({ recover: true, WebSocket: undefined }));
    await until(() => times.length === 4, 'the new session after the refusal', 5000);
    expect(times[3]! - times[2]!).toBeGreaterThanOrEqual(1000);
    const [, , refused, retried] = server.streamRequests();
    expect(decodeResume(refused!.headers['x-switchyard-resume'])).toEqual(RESUME);
    expect(decodeResume(retried!.headers['x-switchyard-resume'])).toEqual(RESUME);
    socket.close();
  });

  it('on a new SSE session refused with 429 and an HTTP-date', async () => {
    const server = await ScriptedServer.start();
    const times: number[] = [];
    server.stream = (res, _request, index) => {
      times.push(Date.now());
      if (index === 0) res.writeHead(429, { 'Retry-After': new Date(Date.now() + 2000).toUTCString() }).end();
      else openStream(res, OPEN('s1'));
    };
    const socket = connect(server.url(), quick({ WebSocket: undefined }));
    await until(() => times.length === 2, 'the retry', 5000);
    // The date has whole seconds: at least 1 s of the 2 s is left.
    expect(times[1]! - times[0]!).toBeGreaterThanOrEqual(1000);
    socket.close();
  });

  it('on a resume of the SSE stream refused with 503', async () => {
    const server = await ScriptedServer.start();
    const times: number[] = [];
    server.stream = (res, _request, index) => {
      times.push(Date.now());
      if (index === 0) {
        openStream(res, OPEN('s1'));
        setTimeout(() => res.end(), 50);
      } else if (index === 1) {
        res.writeHead(503, { 'Retry-After': '1' }).end();
      } else {
        openStream(res);
      }
    };
    const socket = connect(server.url(), quick({ WebSocket: undefined }));
    await until(() => times.length === 3, 'the resume after the refusal', 5000);
    expect(times[2]! - times[1]!).toBeGreaterThanOrEqual(1000);
    expect(server.streamRequests()[2]!.headers['switchyard-session']).toBe('s1');
    socket.close();
  });

  it('on a POST refused with 503: the same body again, after the wait', async () => {
    const server = await ScriptedServer.start();
    const times: number[] = [];
    server.post = (_request, index) => {
      times.push(Date.now());
      return index === 0 ? { status: 503, headers: { 'Retry-After': '1' } } : 204;
    };
    const socket = connect(server.url(), quick({ WebSocket: undefined }));
    socket.send('hello');
    await until(() => times.length === 2, 'the retried POST', 5000);
    expect(times[1]! - times[0]!).toBeGreaterThanOrEqual(1000);
    expect(server.posts().map((post) => post.body)).toEqual([server.posts()[0]!.body, server.posts()[0]!.body]);
    socket.close();
  });
});

describe('a refused attempt does not start the backoff over', () => {
  it('with recover, a connection closed with 1013 before its session frame counts as refused', async () => {
    const server = await ScriptedServer.start();
    // The store fails after the 101: the server closes before the session frame, five times.
    server.onConnection = (ws, index) => {
      if (index < 5) ws.close(1013, 'Cannot reach the session store');
      else ws.send(SESSION);
    };
    const socket = connect(
      server.url(),
      quick({ recover: true, transports: ['websocket'], reconnect: { initialDelay: 20, maxDelay: 1000, jitter: 0 } }),
    );
    await until(() => server.connections.length === 6, 'the sixth attempt', 5000);
    const gaps = server.handshakes.slice(1).map((handshake, i) => handshake.at - server.handshakes[i]!.at);
    // 20, 40, 80, 160, 320 ms: the backoff goes on; restarted each time, every gap would be about 20 ms.
    for (const [i, gap] of gaps.entries()) expect(gap).toBeGreaterThanOrEqual(20 * 2 ** i);
    socket.close();
  });
});
