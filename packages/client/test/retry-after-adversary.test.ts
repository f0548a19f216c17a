/**
 * `Retry-After` from a hostile server or proxy: huge, zero, negative and fractional numbers,
 * HTTP-dates in the past and the future (in each of the three forms), garbage, repeated headers
 * (fetch joins them with ", "), odd spacing. Generated with fast-check: whatever the value, the
 * wait before the next attempt is a whole number of ms, never NaN, at least the backoff, at most
 * twice the longest wait honoured, and spread at random; and against a real server that refuses
 * every attempt (WebSocket handshake and SSE stream alike) with such a value, the socket never
 * retries in a tight loop: its attempts stay as few as its backoff allows.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { DEFAULT_RECONNECT, backoffDelay, retryAfterDelay } from '../src/backoff.js';
import type { ReconnectOptions } from '../src/backoff.js';
import { connect } from '../src/index.js';
import type { WebSocketConstructor } from '../src/index.js';
import { MAX_RETRY_AFTER, parseRetryAfter, retryAfterOf } from '../src/retry-after.js';
import { ScriptedServer } from './scripted-server.js';

const WS = WebSocket as unknown as WebSocketConstructor;
const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const LONG_DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const pad = (n: number): string => String(n).padStart(2, '0');

/** An HTTP-date `offset` ms from `now`, in one of the three forms a recipient must read. */
function httpDate(at: number, form: 0 | 1 | 2): string {
  const d = new Date(at);
  const time = `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;
  const month = MONTHS[d.getUTCMonth()]!;
  if (form === 0) return `${DAYS[d.getUTCDay()]}, ${pad(d.getUTCDate())} ${month} ${d.getUTCFullYear()} ${time} GMT`;
  if (form === 1)
    return `${LONG_DAYS[d.getUTCDay()]}, ${pad(d.getUTCDate())}-${month}-${pad(d.getUTCFullYear() % 100)} ${time} GMT`;
  return `${DAYS[d.getUTCDay()]} ${month} ${String(d.getUTCDate()).padStart(2, ' ')} ${time} ${d.getUTCFullYear()}`;
}

const NOW = Date.UTC(2026, 11, 8, 1, 0, 0);

/** Hostile `Retry-After` values, as the client would read them at NOW. */
const hostile = (now: number) => {
  const one = fc.oneof(
    fc.constantFrom('0', '00', '-0', '-1', '-99999', '0.5', '1.5', '1e3', '0x10', '+3', 'Infinity', 'NaN', '', ' '),
    fc.bigInt({ min: 0n, max: 10n ** 400n }).map(String),
    fc.nat().map((n) => `${n}.${n % 10}`),
    fc.integer({ min: -100_000, max: -1 }).map(String),
    // Past, near future, beyond the cap, far future; each form.
    fc
      .tuple(
        fc.oneof(
          fc.integer({ min: -10 * 365 * 86_400_000, max: 0 }),
          fc.integer({ min: 0, max: MAX_RETRY_AFTER }),
          fc.integer({ min: MAX_RETRY_AFTER, max: 50 * 365 * 86_400_000 }),
        ),
        fc.constantFrom(0 as const, 1 as const, 2 as const),
      )
      .map(([offset, form]) => httpDate(now + offset, form)),
    fc.string(),
    fc.string({ unit: 'binary' }),
  );
  return fc.oneof(
    one,
    // A repeated header, as fetch's Headers.get joins it.
    fc.array(one, { minLength: 2, maxLength: 3 }).map((values) => values.join(', ')),
    // Odd spacing around a value.
    fc.tuple(fc.constantFrom(' ', '\t', '  '), one).map(([space, value]) => `${space}${value}${space}`),
  );
};

const settings = fc.record({
  initialDelay: fc.integer({ min: 0, max: 60_000 }),
  maxDelay: fc.integer({ min: 0, max: 120_000 }),
  factor: fc.double({ min: 1, max: 10, noNaN: true }),
  jitter: fc.double({ min: 0, max: 1, noNaN: true }),
  spread: fc.integer({ min: 0, max: 60_000 }),
  maxRetries: fc.constant(Infinity),
});
const draw = fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true });

/** The wait the socket schedules after a refusal with `header` (socket.ts #retry, without the spread). */
function waitAfter(
  status: number,
  header: string,
  attempt: number,
  options: Required<ReconnectOptions>,
  random: () => number,
  now: number,
): number {
  const backoff = backoffDelay(attempt, options, random);
  const asked = retryAfterOf(status, header, now);
  return asked === undefined ? backoff : retryAfterDelay(asked, backoff, options, random);
}

describe('hostile Retry-After values (fast-check)', () => {
  it('the wait is a whole number of ms, never NaN, at least the backoff and what was asked, at most twice the cap or maxDelay', () => {
    fc.assert(
      fc.property(
        hostile(NOW),
        fc.constantFrom(503, 429),
        settings,
        fc.nat({ max: 200 }),
        draw,
        (header, status, options, attempt, r) => {
          const asked = parseRetryAfter(header, NOW);
          if (asked !== undefined) {
            expect(Number.isInteger(asked)).toBe(true);
            expect(asked).toBeGreaterThanOrEqual(0);
            expect(asked).toBeLessThanOrEqual(MAX_RETRY_AFTER);
          }
          const wait = waitAfter(status, header, attempt, options, () => r, NOW);
          expect(Number.isInteger(wait)).toBe(true);
          expect(wait).toBeGreaterThanOrEqual(
            Math.max(
              asked ?? 0,
              backoffDelay(attempt, options, () => r),
            ),
          );
          expect(wait).toBeLessThanOrEqual(Math.max(options.maxDelay, 2 * MAX_RETRY_AFTER));
        },
      ),
      { numRuns: 3000 },
    );
  });

  it('a value that asks for a wait is spread: the clients a server refused together do not come back together', () => {
    fc.assert(
      fc.property(
        hostile(NOW).filter((header) => (parseRetryAfter(header, NOW) ?? 0) >= 1000),
        fc.nat({ max: 20 }),
        (header, attempt) => {
          const waits = Array.from({ length: 200 }, () =>
            waitAfter(503, header, attempt, DEFAULT_RECONNECT, Math.random, NOW),
          );
          const asked = parseRetryAfter(header, NOW)!;
          // Spread over [asked, 2 × asked): 200 draws land on many distinct waits, beyond asked.
          expect(new Set(waits).size).toBeGreaterThan(100);
          expect(Math.max(...waits)).toBeGreaterThan(asked);
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('a server that refuses every attempt with a hostile Retry-After', () => {
  const reconnect = { initialDelay: 40, maxDelay: 320, factor: 2, jitter: 0.5 };
  /** Waits at least half the ceiling: 20, 40, 80, 160, 160... ms. Within WATCH ms, at most this many retries. */
  const WATCH = 1200;
  const mostRetries = (() => {
    let at = 0;
    let retries = 0;
    for (let k = 0; ; k++) {
      at += Math.floor(Math.min(reconnect.maxDelay, reconnect.initialDelay * reconnect.factor ** k) / 2);
      if (at > WATCH) return retries;
      retries++;
    }
  })();

  it(`never retries in a tight loop: at most ${mostRetries} retries (WebSocket and SSE each) in ${WATCH} ms, whatever the value (fast-check)`, async () => {
    const server = await ScriptedServer.start();
    await fc.assert(
      fc.asyncProperty(
        // Values that ask for no wait (or one the client would cap): a wait of seconds would only slow the test.
        hostile(Date.now()).filter((header) => (parseRetryAfter(header.trim()) ?? 0) === 0 && !/[\r\n]/.test(header)),
        fc.constantFrom(503, 429),
        async (header, status) => {
          server.handshakes.splice(0);
          server.requests.splice(0);
          // A header value Node would refuse to send is sent as none.
          const headers: Record<string, string> = /^[\t\x20-\x7e\x80-\xff]*$/.test(header)
            ? { 'Retry-After': header }
            : {};
          server.handshake = () => ({ status, headers });
          server.stream = (res) => res.writeHead(status, headers).end();
          const socket = connect(server.url(), { WebSocket: WS, livenessTimeout: 1000, reconnect });
          let errors = 0;
          socket.addEventListener('error', () => {
            errors++;
          });
          await new Promise((resolve) => setTimeout(resolve, WATCH));
          socket.close();
          const handshakes = server.handshakes.length;
          const streams = server.streamRequests().length;
          // The first attempt, then at most mostRetries more.
          expect(handshakes).toBeLessThanOrEqual(mostRetries + 1);
          expect(streams).toBeLessThanOrEqual(mostRetries + 1);
          // And it kept trying: refusals are transient.
          expect(handshakes + streams).toBeGreaterThanOrEqual(2);
          expect(errors).toBeGreaterThanOrEqual(1);
        },
      ),
      { numRuns: 12 },
    );
  }, 60_000);
});
