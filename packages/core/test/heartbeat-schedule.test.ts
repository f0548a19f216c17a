// The heartbeat's schedule (src/endpoint/heartbeat.ts, HeartbeatSchedule) driven by a simulated
// clock: generated schedules of sessions that open in bursts, answer pings slowly or not at all,
// POST in between (SSE) and die, checked against the heartbeat's promises. The same code runs
// under the endpoint's timer; heartbeat.test.ts and test/fallback-heartbeat check it on sockets.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PolicyState } from '../src/connection/policy.js';
import { Beat, HeartbeatSchedule, heartbeatTick } from '../src/endpoint/heartbeat.js';

/** A seeded random source (mulberry32), so that a failing case replays exactly. */
function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

interface Plan {
  /** When it opens (ms). */
  open: number;
  /** When its client goes away for good (ms), or never. */
  dies: number | undefined;
  /** How long each pong takes, cycled (ms, below the timeout). */
  latencies: number[];
  /** An SSE session: its POSTs (pongs and `activity`) count as heard. */
  sse: boolean;
  /** Gaps between its other POSTs (ms), cycled; empty: none. */
  activity: number[];
}

interface Outcome {
  pings: number[];
  heard: number[];
  dropped: number | undefined;
}

/** Runs `plans` under a schedule until `end`; sweeps every tick as the endpoint's timer does. */
function simulate(
  plans: Plan[],
  interval: number,
  timeout: number,
  seed: number,
  end: number,
): { outcomes: Outcome[]; perSweep: number[]; tick: number } {
  const schedule = new HeartbeatSchedule(interval, timeout, seeded(seed));
  const { tick } = schedule;
  const outcomes: Outcome[] = plans.map(() => ({ pings: [], heard: [], dropped: undefined }));
  const states: Array<{ beat: PolicyState; heardAt: number | undefined } | undefined> = plans.map(() => undefined);
  // Pending events: [time, session, kind]; kept sorted by time.
  const events: Array<[number, number, 'open' | 'pong' | 'post']> = [];
  const add = (event: [number, number, 'open' | 'pong' | 'post']): void => {
    let i = events.length;
    while (i > 0 && events[i - 1]![0] > event[0]) i--;
    events.splice(i, 0, event);
  };
  plans.forEach((plan, i) => {
    add([plan.open, i, 'open']);
    if (plan.sse && plan.activity.length > 0) add([plan.open + plan.activity[0]!, i, 'post']);
  });
  const alive = (i: number, at: number): boolean => plans[i]!.dies === undefined || at < plans[i]!.dies!;
  const perSweep: number[] = [];
  const posts = plans.map(() => 0);
  for (let k = 1; k * tick <= end; k++) {
    const now = Math.floor(k * tick);
    while (events.length > 0 && events[0]![0] <= now) {
      const [at, i, kind] = events.shift()!;
      const state = states[i];
      if (outcomes[i]!.dropped !== undefined) continue;
      if (kind === 'open') {
        states[i] = { beat: new PolicyState(at), heardAt: plans[i]!.sse ? 0 : undefined };
        continue;
      }
      if (!state || !alive(i, at)) continue;
      if (kind === 'pong') state.beat.pongArrived();
      if (plans[i]!.sse) {
        // A POST: heard, whatever it carried (pongs of the SSE fallback are POSTs too).
        state.heardAt = at;
        outcomes[i]!.heard.push(at);
      }
      if (kind === 'post') {
        const gaps = plans[i]!.activity;
        add([at + gaps[++posts[i]! % gaps.length]!, i, 'post']);
      }
    }
    schedule.begin(now);
    let pinged = 0;
    states.forEach((state, i) => {
      if (!state || outcomes[i]!.dropped !== undefined) return;
      const action = schedule.decide(state.beat, state.heardAt, now);
      if (action === Beat.DROP) outcomes[i]!.dropped = now;
      else if (action === Beat.PING) {
        schedule.pinged(state.beat, now);
        pinged++;
        const outcome = outcomes[i]!;
        outcome.pings.push(now);
        const latencies = plans[i]!.latencies;
        const answerAt = now + latencies[(outcome.pings.length - 1) % latencies.length]!;
        // A client that is gone by then does not answer.
        if (alive(i, answerAt)) add([answerAt, i, 'pong']);
      }
    });
    perSweep.push(pinged);
  }
  return { outcomes, perSweep, tick };
}

const timing = fc
  .record({
    interval: fc.integer({ min: 40, max: 30_000 }),
    timeoutShare: fc.double({ min: 0.1, max: 1, noNaN: true }),
  })
  .map(({ interval, timeoutShare }) => ({ interval, timeout: Math.max(20, Math.round(interval * timeoutShare)) }));

function plansOf(interval: number, timeout: number) {
  const plan = fc.record({
    open: fc.integer({ min: 0, max: 3 * interval }),
    dies: fc.option(fc.integer({ min: 0, max: 4 * interval }), { nil: undefined }),
    // Slow answers: anything up to a millisecond short of the timeout.
    latencies: fc.array(fc.integer({ min: 0, max: timeout - 1 }), { minLength: 1, maxLength: 4 }),
    sse: fc.boolean(),
    activity: fc.oneof(
      fc.constant([] as number[]),
      fc.array(fc.integer({ min: 1, max: 2 * interval }), { minLength: 1, maxLength: 4 }),
    ),
  });
  return fc.array(plan, { minLength: 1, maxLength: 40 }).map((plans) =>
    // A death before the open is a client gone right after it opened.
    plans.map((p) => ({ ...p, dies: p.dies === undefined ? undefined : Math.max(p.open, p.dies) })),
  );
}

describe('heartbeat schedule (simulated clock)', () => {
  it('never drops a live session, drops a dead one within interval + timeout + 3 sweeps, never pings one sooner than an interval after it was last heard from', () => {
    fc.assert(
      fc.property(
        timing.chain(({ interval, timeout }) =>
          fc.record({
            interval: fc.constant(interval),
            timeout: fc.constant(timeout),
            plans: plansOf(interval, timeout),
            seed: fc.integer(),
          }),
        ),
        ({ interval, timeout, plans, seed }) => {
          const lastEvent = Math.max(...plans.map((p) => Math.max(p.open, p.dies ?? 0)));
          const end = lastEvent + 3 * (interval + timeout) + 8 * heartbeatTick(interval, timeout);
          const { outcomes, tick } = simulate(plans, interval, timeout, seed, end);
          plans.forEach((plan, i) => {
            const { pings, heard, dropped } = outcomes[i]!;
            if (plan.dies === undefined) {
              expect(dropped, `live session ${i} dropped`).toBeUndefined();
            } else {
              expect(dropped, `dead session ${i} never dropped`).toBeDefined();
              expect(dropped!).toBeGreaterThanOrEqual(plan.dies);
              expect(dropped! - plan.dies).toBeLessThanOrEqual(interval + timeout + 3 * tick + 2);
            }
            // The first ping within the first interval (and a sweep) of the opening.
            if (pings.length > 0 && heard.length === 0)
              expect(pings[0]! - plan.open).toBeLessThanOrEqual(interval + tick + 1);
            for (let p = 1; p < pings.length; p++) expect(pings[p]! - pings[p - 1]!).toBeGreaterThanOrEqual(interval);
            // Heard from, not pinged again for an interval: activity is its pong.
            for (const at of pings) {
              const before = heard.filter((h) => h < at);
              if (before.length > 0) expect(at - before.at(-1)!).toBeGreaterThanOrEqual(interval);
            }
          });
        },
      ),
      { numRuns: 300 },
    );
  });

  it('pings sessions opened in one burst evenly over the interval, not in one sweep an interval later', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 200, max: 1000 }),
        fc.integer({ min: 1000, max: 60_000 }),
        fc.integer({ min: 0, max: 100 }),
        fc.integer(),
        (count, interval, burstShare, seed) => {
          const timeout = Math.round(interval / 3);
          // Every session opens within 0 to 1% of the interval: a reconnect storm.
          const burst = Math.floor((interval * burstShare) / 10_000);
          const plans: Plan[] = Array.from({ length: count }, (_, i) => ({
            open: Math.floor((burst * i) / count),
            dies: undefined,
            latencies: [Math.floor(timeout / 2)],
            sse: true,
            activity: [],
          }));
          const { outcomes, perSweep, tick } = simulate(plans, interval, timeout, seed, 4 * interval);
          const even = Math.ceil((count * tick) / interval);
          expect(Math.max(...perSweep)).toBeLessThanOrEqual(4 * even + 8);
          // Each session once per interval: 4 intervals, at most 4 pings (the first one earlier).
          for (const { pings } of outcomes) expect(pings.length).toBeLessThanOrEqual(4);
          // And nobody was skipped: every session pinged at least 3 times in 4 intervals.
          for (const { pings } of outcomes) expect(pings.length).toBeGreaterThanOrEqual(3);
        },
      ),
      { numRuns: 40 },
    );
  });

  it('a POST heard in the very millisecond of the ping is not its pong: a peer silent after it is still dropped', () => {
    const schedule = new HeartbeatSchedule(1000, 500, () => 0.99);
    const beat = new PolicyState(0);
    schedule.begin(1000);
    expect(schedule.decide(beat, 0, 1000)).toBe(Beat.PING);
    schedule.pinged(beat, 1000);
    // Heard in the same millisecond as the ping: it cannot be the pong.
    schedule.begin(1200);
    expect(schedule.decide(beat, 1000, 1200)).toBe(Beat.NONE);
    expect(beat.awaitingPong).toBe(true);
    // A sweep on time before the deadline: a sweep that follows a longer gap is late, and drops
    // only what had passed its deadline by the sweep before it (the loop was blocked meanwhile).
    schedule.begin(1490);
    expect(schedule.decide(beat, 1000, 1490)).toBe(Beat.NONE);
    schedule.begin(1500);
    expect(schedule.decide(beat, 1000, 1500)).toBe(Beat.DROP);
  });
});
