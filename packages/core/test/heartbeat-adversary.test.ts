// The heartbeat's schedule (src/endpoint/heartbeat.ts) against what heartbeat-schedule.test.ts's
// simulation does not do: an event loop held up (a long synchronous task, a GC pause, a
// descheduled VM), after which the sweep's timer runs before the I/O that waited behind the block
// (Node runs timers before polling); a loop late at every turn; the schedule replaced by one of
// another interval while connections are open; connections opening and closing in the middle of
// a sweep. No live peer dropped, no dead one kept, nothing left once every connection is closed.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PolicyState } from '../src/connection/policy.js';
import type { Connection } from '../src/connection/connection.js';
import { kPolicy, kWs } from '../src/connection/symbols.js';
import { Beat, HeartbeatSchedule, sweepHeartbeat } from '../src/endpoint/heartbeat.js';
import type { SweptEndpoint } from '../src/endpoint/heartbeat.js';
import { resolveOptions } from '../src/endpoint/options-resolve.js';

/** Fixed, so that a failure replays; SWITCHYARD_FUZZ_SEED and SWITCHYARD_FUZZ_RUNS for longer local runs. */
const SEED = Number(process.env.SWITCHYARD_FUZZ_SEED ?? 20261208);

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

interface Peer {
  open: number;
  /** When it goes away for good, or never. */
  dies: number | undefined;
  /** How long its pongs take (ms, under the smallest timeout). */
  latency: number;
}

interface Run {
  interval: number;
  timeout: number;
  peers: Peer[];
  /** Event-loop blocks: [when, how long] (ms). */
  stalls: Array<[number, number]>;
  /** The schedule replaced at this time by one of `interval2`/`timeout2`, or never. */
  handoff: { at: number; interval: number; timeout: number } | undefined;
  seed: number;
}

/**
 * Sweeps on a simulated event loop. On time, the I/O that arrived before a sweep is read before
 * it (the loop polled while it waited for the timer). After a stall, the sweep runs first, then
 * the I/O that arrived during the stall: what Node does, timers before the poll phase.
 */
function simulate(run: Run, end: number): { dropped: Array<number | undefined>; ticks: number[] } {
  let schedule = new HeartbeatSchedule(run.interval, run.timeout, seeded(run.seed));
  const beats: Array<PolicyState | undefined> = run.peers.map(() => undefined);
  const dropped: Array<number | undefined> = run.peers.map(() => undefined);
  const pongs: Array<[number, number]> = [];
  const alive = (i: number, at: number): boolean => run.peers[i]!.dies === undefined || at < run.peers[i]!.dies!;
  const read = (now: number): void => {
    run.peers.forEach((peer, i) => {
      if (beats[i] === undefined && peer.open <= now) beats[i] = new PolicyState(peer.open);
    });
    for (let p = pongs.length - 1; p >= 0; p--) {
      const [at, i] = pongs[p]!;
      if (at > now) continue;
      pongs.splice(p, 1);
      if (dropped[i] === undefined) beats[i]!.pongArrived();
    }
  };
  const ticks: number[] = [];
  let now = 0;
  let handedOff = false;
  while (now <= end) {
    const stall = run.stalls.find(([at, length]) => at > now - schedule.tick && at <= now && length > 0);
    let late = false;
    if (stall) {
      // The loop read its sockets until the block began.
      read(now);
      now += stall[1];
      late = true;
    }
    if (!late) read(now);
    // The endpoint restarts its heartbeat from a timer of its own, never inside a late sweep.
    if (run.handoff && !handedOff && now >= run.handoff.at && !late) {
      handedOff = true;
      schedule = new HeartbeatSchedule(run.handoff.interval, run.handoff.timeout, seeded(run.seed + 1));
    }
    schedule.begin(now);
    ticks.push(now);
    beats.forEach((beat, i) => {
      if (!beat || dropped[i] !== undefined) return;
      const action = schedule.decide(beat, undefined, now);
      if (action === Beat.DROP) dropped[i] = now;
      else if (action === Beat.PING) {
        schedule.pinged(beat, now);
        const answer = now + run.peers[i]!.latency;
        if (alive(i, now) && alive(i, answer)) pongs.push([answer, i]);
      }
    });
    if (late) read(now);
    now = Math.floor(now + schedule.tick);
  }
  return { dropped, ticks };
}

const runs = fc
  .record({
    interval: fc.integer({ min: 40, max: 5000 }),
    timeoutShare: fc.double({ min: 0.1, max: 1, noNaN: true }),
    seed: fc.integer(),
  })
  .chain(({ interval, timeoutShare, seed }) => {
    const timeout = Math.max(20, Math.round(interval * timeoutShare));
    const span = 4 * interval;
    return fc.record({
      interval: fc.constant(interval),
      timeout: fc.constant(timeout),
      seed: fc.constant(seed),
      handoff: fc.option(
        fc.record({
          at: fc.integer({ min: 0, max: span }),
          interval: fc.integer({ min: 40, max: 5000 }),
          share: fc.double({ min: 0.1, max: 1, noNaN: true }),
        }),
        { nil: undefined },
      ),
      peers: fc.array(
        fc.record({
          open: fc.integer({ min: 0, max: span }),
          dies: fc.option(fc.integer({ min: 0, max: span }), { nil: undefined }),
          latencyShare: fc.double({ min: 0, max: 0.9, noNaN: true }),
        }),
        { minLength: 1, maxLength: 30 },
      ),
      stalls: fc.array(fc.tuple(fc.integer({ min: 0, max: span }), fc.integer({ min: 0, max: 3 * interval })), {
        maxLength: 3,
      }),
    });
  })
  .map(({ interval, timeout, seed, handoff, peers, stalls }): Run => {
    const second = handoff && {
      at: handoff.at,
      interval: handoff.interval,
      timeout: Math.max(20, Math.round(handoff.interval * handoff.share)),
    };
    // A pong takes less than the smallest timeout in force, by a margin of a tick (a late read).
    const least = Math.min(timeout, second?.timeout ?? timeout) - 10;
    return {
      interval,
      timeout,
      seed,
      handoff: second,
      stalls,
      peers: peers.map((peer) => ({
        open: peer.open,
        dies: peer.dies === undefined ? undefined : Math.max(peer.open, peer.dies),
        latency: Math.max(0, Math.floor(least * peer.latencyShare)),
      })),
    };
  });

describe('heartbeat schedule, adversaries (simulated event loop)', () => {
  it('stalls of the event loop, and the schedule replaced by another interval: no live peer dropped, every dead one dropped', () => {
    fc.assert(
      fc.property(runs, (run) => {
        const longest = Math.max(
          run.interval + run.timeout,
          (run.handoff?.interval ?? 0) + (run.handoff?.timeout ?? 0),
        );
        const stalled = run.stalls.reduce((sum, [, length]) => sum + length, 0);
        const lastEvent = Math.max(...run.peers.map((p) => Math.max(p.open, p.dies ?? 0)), run.handoff?.at ?? 0);
        const end = lastEvent + stalled + 3 * longest + 1000;
        const { dropped } = simulate(run, end);
        run.peers.forEach((peer, i) => {
          if (peer.dies === undefined) expect(dropped[i], `live peer ${i} dropped`).toBeUndefined();
          else {
            expect(dropped[i], `dead peer ${i} kept`).toBeDefined();
            expect(dropped[i]!).toBeGreaterThanOrEqual(peer.dies);
          }
        });
      }),
      { numRuns: Number(process.env.SWITCHYARD_FUZZ_RUNS ?? 500), seed: SEED },
    );
  });

  it('a pong that waited behind a block longer than the timeout is read before anyone is dropped', () => {
    const schedule = new HeartbeatSchedule(1000, 200, () => 0.99);
    const beat = new PolicyState(0);
    schedule.begin(1000);
    expect(schedule.decide(beat, undefined, 1000)).toBe(Beat.PING);
    schedule.pinged(beat, 1000);
    // The loop blocks for 3 s; the pong (sent at 1005) waits unread in the socket.
    schedule.begin(4000);
    expect(schedule.decide(beat, undefined, 4000)).toBe(Beat.NONE);
    beat.pongArrived();
    expect(beat.awaitingPong).toBe(false);
    // Answered: the next sweep pings it again (its last ping was long ago), and drops nothing.
    schedule.begin(4015);
    expect(schedule.decide(beat, undefined, 4015)).toBe(Beat.PING);
  });

  it('two blocks in a row, pinged by the sweep between them, its pong arriving during the second: kept', () => {
    const schedule = new HeartbeatSchedule(1000, 200, () => 0.99);
    const beat = new PolicyState(0);
    schedule.begin(985);
    // Blocked until 1300: that sweep is late, and pings (nothing heard for an interval).
    schedule.begin(1300);
    expect(schedule.decide(beat, undefined, 1300)).toBe(Beat.PING);
    schedule.pinged(beat, 1300);
    // Blocked again at once, until 1600; the pong came at 1350, during the block, still unread.
    schedule.begin(1600);
    expect(schedule.decide(beat, undefined, 1600)).toBe(Beat.NONE);
    beat.pongArrived();
    schedule.begin(1615);
    expect(schedule.decide(beat, undefined, 1615)).toBe(Beat.NONE);
  });

  it('a loop late at every turn still drops a dead peer, one sweep later at most', () => {
    const schedule = new HeartbeatSchedule(1000, 200, () => 0.99);
    const tick = schedule.tick;
    const beat = new PolicyState(0);
    schedule.begin(1000);
    schedule.decide(beat, undefined, 1000);
    schedule.pinged(beat, 1000);
    // Every sweep comes 5 ticks after the one before; the peer never answers.
    let droppedAt: number | undefined;
    for (let now = 1000 + 5 * tick; droppedAt === undefined && now < 5000; now += 5 * tick) {
      schedule.begin(now);
      if (schedule.decide(beat, undefined, now) === Beat.DROP) droppedAt = now;
    }
    expect(droppedAt).toBeDefined();
    expect(droppedAt! - 1000).toBeLessThanOrEqual(200 + 2 * 5 * tick);
  });
});

describe('sweepHeartbeat: connections that open and close in the middle of a sweep', () => {
  it('dropping one closes others and opens new ones meanwhile: each is dropped once, and the set empties', () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 40 }), fc.integer(), (count, seed) => {
        const random = seeded(seed);
        const connections = new Set<Connection<any, any, any>>();
        const endpoint: SweptEndpoint = {
          connections,
          options: resolveOptions({ heartbeat: { interval: 100, timeout: 50 } }),
          activityClock: undefined,
        };
        const terminations = new Map<object, number>();
        let made = 0;
        const add = (): void => {
          made++;
          const policy = new PolicyState(0);
          // Dead: pinged long ago, no pong.
          policy.awaitingPong = true;
          policy.lastPingAt = -10_000;
          const connection = {
            [kPolicy]: policy,
            [kWs]: { readyState: 1, ping() {} },
            terminate() {
              terminations.set(connection, (terminations.get(connection) ?? 0) + 1);
              connections.delete(connection as unknown as Connection<any, any, any>);
              // Its close hook closes another connection, or one opens (a reconnect to this node).
              const others = [...connections];
              const other = others[Math.floor(random() * others.length)];
              if (other && random() < 0.5) other.terminate();
              else if (random() < 0.3 && made < 4 * count) add();
            },
          };
          connections.add(connection as unknown as Connection<any, any, any>);
        };
        for (let i = 0; i < count; i++) add();
        const schedule = new HeartbeatSchedule(100, 50, random);
        // Sweeps a millisecond or more apart (the sweep reads performance.now()), until none is left.
        for (let sweep = 0; sweep < 100 && connections.size > 0; sweep++) {
          sweepHeartbeat(endpoint, schedule);
          const next = performance.now() + 1;
          while (performance.now() < next) {
            // the next millisecond
          }
        }
        expect(connections.size).toBe(0);
        expect(terminations.size).toBe(made);
        for (const times of terminations.values()) expect(times).toBe(1);
      }),
      { numRuns: 100, seed: SEED },
    );
  });
});
