/**
 * Load shedding before the 101 on every adapter (`maxPendingHandshakes`, issue 24): beyond the
 * bound on handshakes in progress, WebSocket upgrades and new SSE sessions get a well-formed 503
 * with `Retry-After` (whole seconds, 1–5) at once, while the handshakes that hold places still
 * wait in their `upgrade` hook; the bound is never exceeded; the sheds reach `rejected`, the
 * stats, `switchyard:limit` and one warning. Generated schedules of concurrent handshakes (clients
 * that leave at each step, hooks that throw or reject, handshakes `ws` would refuse) leave every
 * place free afterwards, and the process lives.
 */
import diagnosticsChannel from 'node:diagnostics_channel';
import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Endpoint, Handlers, LimitMessage, RejectionInfo } from '@switchyard/core';
import { CHANNELS, reject } from '@switchyard/core';
import { WS_REFUSED } from '../admission/suite.js';
import type { Harness, Started } from '../harness.js';
import { start } from '../harness.js';
import { ACCEPT, RawClient, captureWarnings, delay, handshakeRequest, openWs, requireAssertions } from '../helpers.js';
import type { HttpHead } from '../helpers.js';

/** Generated schedules per adapter: a few seconds; SWITCHYARD_FUZZ_RUNS raises it for long local runs. */
const RUNS = Number(process.env.SWITCHYARD_FUZZ_RUNS ?? 15);
/** Fixed in CI, so that a failure is reproducible; SWITCHYARD_FUZZ_SEED picks another. */
const SEED = Number(process.env.SWITCHYARD_FUZZ_SEED ?? 20261207);

/** A promise the test opens when it wants: the `upgrade` hooks wait on it. */
export class Gate {
  #open!: () => void;
  promise = new Promise<void>((resolve) => {
    this.#open = resolve;
  });
  open(): void {
    this.#open();
  }
}

/** The endpoints behind the handshakes that reach them, from `switchyard:handshake:start`. */
export function watchEndpoints(): { endpoints: Set<Endpoint<any>>; stop(): void } {
  const endpoints = new Set<Endpoint<any>>();
  const listener = (message: unknown): void => {
    endpoints.add((message as { endpoint: Endpoint<any> }).endpoint);
  };
  diagnosticsChannel.subscribe(CHANNELS.handshakeStart, listener);
  return { endpoints, stop: () => diagnosticsChannel.unsubscribe(CHANNELS.handshakeStart, listener) };
}

/** A new SSE session's request, as the client's EventSource sends it. */
export function sseRequest(path: string): string {
  const join = path.includes('?') ? '&' : '?';
  return `GET ${path}${join}__sy=sse HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n`;
}

/** A complete HTTP answer other than a 101, read from a raw client: head and Content-Length body. */
export async function answerOf(raw: RawClient, timeout = 5000): Promise<HttpHead & { body: string }> {
  const head = await raw.response(timeout);
  const length = Number(head.headers['content-length'] ?? 0);
  const all = await raw.until((b) => b.length >= b.indexOf('\r\n\r\n') + 4 + length, timeout);
  const startAt = all.indexOf('\r\n\r\n') + 4;
  return { ...head, body: all.subarray(startAt, startAt + length).toString() };
}

/** A shed answer: 503, `Retry-After` in whole seconds from 1 to 5, the documented text, nothing after. */
function expectShed(answer: HttpHead & { body: string }, bound: number, transport: 'websocket' | 'sse'): void {
  expect(answer.statusLine).toBe('HTTP/1.1 503 Service Unavailable');
  expect(answer.headers['retry-after']).toMatch(/^[1-5]$/);
  // A refused upgrade's socket closes after the answer; an SSE request's may serve another.
  if (transport === 'websocket') expect(answer.headers.connection).toBe('close');
  expect(answer.body).toBe(`This endpoint has ${bound} handshakes in progress; retry later\n`);
  expect(Number(answer.headers['content-length'])).toBe(Buffer.byteLength(answer.body));
}

export function runShedding(harness: Harness): void {
  describe(`${harness.name}: load shedding before the 101 (maxPendingHandshakes)`, () => {
    requireAssertions();
    const running: Started[] = [];
    const raws: RawClient[] = [];
    const stops: Array<() => void> = [];
    afterEach(async () => {
      for (const raw of raws.splice(0)) raw.destroy();
      for (const stop of stops.splice(0)) stop();
      await Promise.all(running.splice(0).map((s) => s.close()));
    });
    const rawClient = async (port: number): Promise<RawClient> => {
      const raw = await RawClient.connect(port);
      raws.push(raw);
      return raw;
    };

    /** An endpoint whose `upgrade` hook waits on `gate`, counting the hooks running at once. */
    const blocking = (bound: number, gate: Gate, seen: RejectionInfo[]) => {
      const counts = { running: 0, most: 0 };
      const handlers: Handlers<undefined> = {
        heartbeat: false,
        maxPendingHandshakes: bound,
        async upgrade() {
          counts.most = Math.max(counts.most, ++counts.running);
          try {
            await gate.promise;
          } finally {
            counts.running--;
          }
        },
        rejected(info) {
          seen.push(info);
        },
      };
      return { handlers, counts };
    };

    it('a burst beyond the bound gets 503 with Retry-After at once, while the admitted wait; the bound holds; they then open', async () => {
      const BOUND = 4;
      const BURST = 40;
      const gate = new Gate();
      const seen: RejectionInfo[] = [];
      const { handlers, counts } = blocking(BOUND, gate, seen);
      const watched = watchEndpoints();
      stops.push(watched.stop);
      const limits: LimitMessage[] = [];
      const onLimit = (message: unknown): void => {
        limits.push(message as LimitMessage);
      };
      diagnosticsChannel.subscribe(CHANNELS.limit, onLimit);
      stops.push(() => diagnosticsChannel.unsubscribe(CHANNELS.limit, onLimit));
      const warnings = captureWarnings('SWITCHYARD_HANDSHAKES_SHED');
      stops.push(warnings.stop);
      const s = await start(harness, [{ path: '/shed', handlers }]);
      running.push(s);

      const held = await Promise.all(Array.from({ length: BOUND }, () => rawClient(s.port)));
      for (const raw of held) raw.write(handshakeRequest('/shed'));
      await vi.waitFor(() => expect(counts.running).toBe(BOUND), { timeout: 5000 });
      const [endpoint] = watched.endpoints;
      expect(endpoint!.stats().handshakes.pending).toBe(BOUND);

      const burst = await Promise.all(Array.from({ length: BURST }, () => rawClient(s.port)));
      for (const raw of burst) raw.write(handshakeRequest('/shed'));
      const answers = await Promise.all(burst.map((raw) => answerOf(raw)));
      // Every one of them answered while the admitted handshakes still wait in their hook.
      expect(counts.running).toBe(BOUND);
      for (const answer of answers) expectShed(answer, BOUND, 'websocket');
      expect(held.every((raw) => raw.received.length === 0)).toBe(true);

      gate.open();
      for (const raw of held) {
        const head = await raw.response(5000);
        expect(head.status).toBe(101);
        expect(head.headers['sec-websocket-accept']).toBe(ACCEPT);
      }
      expect(counts.most).toBe(BOUND);
      await vi.waitFor(() =>
        expect(endpoint!.stats().handshakes).toMatchObject({
          accepted: BOUND,
          refused: { 503: BURST },
          pending: 0,
          shed: BURST,
        }),
      );
      expect(seen.map((info) => info.status)).toEqual(Array(BURST).fill(503));
      expect(seen[0]).toMatchObject({
        path: '/shed',
        reason: `This endpoint has ${BOUND} handshakes in progress; retry later`,
      });
      const shedLimits = limits.filter((m) => m.limit === 'maxPendingHandshakes');
      expect(shedLimits.length).toBe(BURST);
      expect(shedLimits[0]).toMatchObject({ action: 'refused', status: 503, connection: undefined });
      expect(warnings.warnings.length).toBe(1);
      expect(warnings.warnings[0]!.message).toContain('/shed had 4 handshakes in progress');
      // A fresh client gets in once the places are free.
      const fresh = await openWs(s.url('/shed'));
      fresh.terminate();
    });

    it('new SSE sessions take places as upgrades do, and one beyond the bound gets the same 503', async () => {
      const BOUND = 2;
      const gate = new Gate();
      const seen: RejectionInfo[] = [];
      const { handlers, counts } = blocking(BOUND, gate, seen);
      const s = await start(harness, [{ path: '/mixed', handlers }]);
      running.push(s);
      const session = await rawClient(s.port);
      session.write(sseRequest('/mixed'));
      const upgrade = await rawClient(s.port);
      upgrade.write(handshakeRequest('/mixed'));
      await vi.waitFor(() => expect(counts.running).toBe(BOUND), { timeout: 5000 });

      const lateSession = await rawClient(s.port);
      lateSession.write(sseRequest('/mixed'));
      expectShed(await answerOf(lateSession), BOUND, 'sse');
      const lateUpgrade = await rawClient(s.port);
      lateUpgrade.write(handshakeRequest('/mixed'));
      expectShed(await answerOf(lateUpgrade), BOUND, 'websocket');
      expect(seen.map((info) => info.status)).toEqual([503, 503]);

      gate.open();
      expect((await session.response(5000)).status).toBe(200);
      expect((await upgrade.response(5000)).status).toBe(101);
    });

    it('a waiting client that resets its connection gives its place back, even while its hook never settles', async () => {
      const never = new Gate();
      const seen: RejectionInfo[] = [];
      const { handlers, counts } = blocking(1, never, seen);
      const s = await start(harness, [{ path: '/stuck', handlers }]);
      running.push(s);
      for (let i = 0; i < 3; i++) {
        const raw = await rawClient(s.port);
        raw.write(i % 2 === 0 ? handshakeRequest('/stuck') : sseRequest('/stuck'));
        await vi.waitFor(() => expect(counts.running).toBe(i + 1), { timeout: 5000 });
        raw.socket.resetAndDestroy();
      }
      // Each came in after the one before left: none was shed.
      expect(seen.filter((info) => info.status === 503)).toEqual([]);
    });

    it('Infinity turns shedding off', async () => {
      const gate = new Gate();
      const seen: RejectionInfo[] = [];
      const { handlers, counts } = blocking(1, gate, seen);
      const s = await start(harness, [{ path: '/open', handlers: { ...handlers, maxPendingHandshakes: Infinity } }]);
      running.push(s);
      const clients = await Promise.all(Array.from({ length: 8 }, () => rawClient(s.port)));
      for (const raw of clients) raw.write(handshakeRequest('/open'));
      await vi.waitFor(() => expect(counts.running).toBe(8), { timeout: 5000 });
      gate.open();
      for (const raw of clients) expect((await raw.response(5000)).status).toBe(101);
    });
  });

  runGeneratedSchedules(harness);
}

/** What the `upgrade` hook of the generated endpoint does, picked by the request's query. */
const HOOKS = ['pass', 'throw', 'reject', 'throw-rejection', 'pass-sync', 'throw-sync'] as const;
/** The hook of the fresh handshakes after a schedule: it waits for the test. */
type Hook = (typeof HOOKS)[number] | 'hold';

/** One handshake of a generated schedule. */
const step = fc.record({
  transport: fc.constantFrom('websocket' as const, 'sse' as const),
  /** When it starts, ms after the schedule does. */
  at: fc.nat(40),
  hook: fc.constantFrom(...HOOKS),
  /** How long an async hook takes, ms. */
  hookDelay: fc.nat(60),
  /** A header `ws` would refuse (WebSocket only), or none. */
  refused: fc.option(fc.nat(WS_REFUSED.length - 1), { nil: undefined }),
  exit: fc.constantFrom('answer', 'leave-mid-request', 'leave-after-request', 'leave-in-hook'),
});

/** A handshake's answer, checked to be well-formed HTTP: a valid 101, a 200 event stream, or a complete response. */
export async function wellFormed(raw: RawClient): Promise<number> {
  const head = await raw.response(5000);
  expect(head.statusLine).toMatch(/^HTTP\/1\.1 [1-5]\d\d [^\r\n]*$/);
  if (head.status === 101) {
    expect(head.headers['sec-websocket-accept']).toBe(ACCEPT);
    return 101;
  }
  if (head.status === 200) {
    expect(head.headers['content-type']).toMatch(/^text\/event-stream/);
    return 200;
  }
  const answer = await answerOf(raw);
  expect(Number(answer.headers['content-length'])).toBe(Buffer.byteLength(answer.body));
  if (answer.status === 503) expect(answer.headers['retry-after']).toMatch(/^[1-5]$/);
  return answer.status;
}

function runGeneratedSchedules(harness: Harness): void {
  describe(`${harness.name}: generated handshake schedules against maxPendingHandshakes (${RUNS} runs, seed ${SEED})`, () => {
    requireAssertions();

    it('after any schedule every place is free, the bound was never passed, and every answer was well-formed', async () => {
      const BOUND = 2;
      const watched = watchEndpoints();
      try {
        await fc.assert(
          fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 8 }), async (steps) => {
            watched.endpoints.clear();
            let hold: Gate | undefined;
            let holding = 0;
            let mostPending = 0;
            const s = await start(harness, [
              {
                path: '/gen',
                handlers: {
                  heartbeat: false,
                  compression: true,
                  maxPendingHandshakes: BOUND,
                  error() {},
                  upgrade(req) {
                    for (const endpoint of watched.endpoints)
                      mostPending = Math.max(mostPending, endpoint.stats().handshakes.pending);
                    const hook = req.query.hook as Hook;
                    if (hook === 'pass-sync') return;
                    if (hook === 'throw-sync') throw new Error('hook failed');
                    if (hook === 'hold') {
                      holding++;
                      return hold!.promise;
                    }
                    return delay(Number(req.query.delay)).then(() => {
                      if (hook === 'throw') throw new Error('hook failed');
                      if (hook === 'reject') return reject(403, 'No');
                      if (hook === 'throw-rejection') throw reject(401, 'Who?');
                      return undefined;
                    });
                  },
                },
              },
            ]);
            const clients: RawClient[] = [];
            try {
              await Promise.all(
                steps.map(async ({ transport, at, hook, hookDelay, refused, exit }) => {
                  await delay(at);
                  const raw = await RawClient.connect(s.port);
                  clients.push(raw);
                  const path = `/gen?hook=${hook}&delay=${hookDelay}`;
                  const request =
                    transport === 'sse'
                      ? sseRequest(path)
                      : handshakeRequest(path, refused === undefined ? {} : WS_REFUSED[refused]);
                  if (exit === 'leave-mid-request') {
                    raw.write(request.slice(0, request.length >> 1));
                    raw.destroy();
                    return;
                  }
                  raw.write(request);
                  if (exit === 'leave-after-request') return raw.destroy();
                  if (exit === 'leave-in-hook') {
                    await delay(hookDelay >> 1);
                    return raw.destroy();
                  }
                  const status = await wellFormed(raw);
                  expect([101, 200, 400, 401, 403, 500, 503]).toContain(status);
                  raw.destroy();
                }),
              );
              for (const raw of clients) raw.destroy();
              const [endpoint] = watched.endpoints;
              expect(mostPending).toBeLessThanOrEqual(BOUND);
              // Every place comes back.
              if (endpoint)
                await vi.waitFor(() => expect(endpoint.stats().handshakes.pending).toBe(0), { timeout: 5000 });
              // And is usable: BOUND handshakes that wait in their hook are all admitted at once.
              hold = new Gate();
              holding = 0;
              const fresh = await Promise.all(Array.from({ length: BOUND }, () => RawClient.connect(s.port)));
              clients.push(...fresh);
              for (const raw of fresh) raw.write(handshakeRequest('/gen?hook=hold'));
              // 5 s, not waitFor's 1 s: on a loaded machine the second hook ran after 1 s once.
              await vi.waitFor(() => expect(holding).toBe(BOUND), { timeout: 5000 });
              hold.open();
              for (const raw of fresh) expect((await raw.response(5000)).status).toBe(101);
            } finally {
              for (const raw of clients) raw.destroy();
              await s.close();
            }
          }),
          { numRuns: RUNS, seed: SEED, endOnFailure: false, interruptAfterTimeLimit: 45_000 },
        );
      } finally {
        watched.stop();
      }
    }, 90_000);
  });
}
