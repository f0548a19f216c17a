/**
 * The two timers of an endpoint, each one per endpoint instead of one per connection: the
 * heartbeat (a ping every `heartbeat.interval`, spread over the interval; no pong within
 * `heartbeat.timeout` drops the connection, 1006; see {@link HeartbeatSchedule}) and the sweep of `idleTimeout` (4000) and `maxLifetime` (4001), which also
 * moves the coarse clock that activity marks use. Both run only while connections are open.
 */
import type { Connection } from '../connection/connection.js';
import { policyOf, transportOf } from '../connection/connection.js';
import { channels, publishLimit } from '../diagnostics.js';
import type { ResolvedOptions } from './options-types.js';
import { CloseCode } from '../protocol.js';
import type { HeartbeatPart, LifetimePart } from '../connection/policy.js';

/** What the sweeps read of their endpoint. */
export interface SweptEndpoint {
  readonly connections: ReadonlySet<Connection<any, any, any>>;
  readonly options: ResolvedOptions;
  /** Coarse time (ms) that activity marks use, with `idleTimeout`; moved by the lifetime sweep. */
  activityClock: number | undefined;
}

/** What a sweep does with one connection. */
export const Beat = { NONE: 0, PING: 1, DROP: 2 } as const;
/** One of {@link Beat}'s values. */
export type Beat = (typeof Beat)[keyof typeof Beat];

/**
 * A transport that can tell when it last heard from its peer (the SSE fallback: any POST of the
 * client's, whatever it carries). Whole ms of performance.now().
 */
interface Heard {
  readonly heardAt?: number;
}

/**
 * The heartbeat's schedule (without timers, so that a test can drive it with its own clock):
 *
 * - **Spread.** A connection's first ping comes at a uniformly random sweep within its first
 *   `interval` (not `interval` after it opened), and each later one `interval` after the last, so
 *   that connections opened in a burst (a deploy, a reconnect storm) are pinged evenly over the
 *   interval instead of in the same burst one interval later. The SSE fallback's pongs are POSTs:
 *   in a burst they would arrive as a burst of new HTTP connections.
 * - **Activity is liveness.** A transport that reports `heardAt` (the SSE fallback, where every
 *   POST is a request the client made) counts anything heard since the last ping as its pong, and
 *   is not pinged again until `interval` after it: a session that acknowledges events or sends
 *   messages is never pinged.
 * - **Dead peers.** Nothing heard for `interval`, a ping; no pong within `timeout` of it, dropped:
 *   a peer that went silent is dropped within `interval + timeout` plus at most three sweeps.
 *
 * A connection never pinged is told from one that answered by its `lastPingAt`: the heartbeat
 * sets that only to the times of its own sweeps, which it remembers for one interval.
 *
 * - **A late sweep drops only what the loop has read.** Timers run before I/O: a sweep that runs
 *   more than two ticks after the one before (the event loop was blocked: a long synchronous
 *   task, a GC pause, a descheduled VM) has not yet read the pongs that arrived meanwhile, and
 *   their peers would look dead. Such a sweep drops a peer only if its deadline (ping + `timeout`)
 *   had passed by the sweep before it: the loop has read its sockets since, so a pong sent in
 *   time would have been seen. A sweep on time follows a loop that was polling its sockets until
 *   then, and drops at the deadline. However late the sweeps, a live peer is kept and a dead one
 *   goes, one sweep later at most.
 */
export class HeartbeatSchedule {
  readonly interval: number;
  readonly timeout: number;
  /** How often the sweep runs (ms). */
  readonly tick: number;
  readonly #random: () => number;
  /** The times of the sweeps of the last interval (and two ticks), oldest first. */
  readonly #sweeps: number[] = [];
  readonly #sweepSet = new Set<number>();
  /** The time of the current sweep, and of the one before it (see the class's comment). */
  #last: number | undefined;
  #previous: number | undefined;

  constructor(interval: number, timeout: number, random: () => number = Math.random) {
    this.interval = interval;
    this.timeout = timeout;
    this.tick = heartbeatTick(interval, timeout);
    this.#random = random;
  }

  /** A sweep starts at `now` (whole ms): remembered, and those older than an interval forgotten. */
  begin(now: number): void {
    if (this.#last !== now) {
      this.#previous = this.#last;
      this.#last = now;
    }
    const sweeps = this.#sweeps;
    if (sweeps.at(-1) !== now) {
      sweeps.push(now);
      this.#sweepSet.add(now);
    }
    const horizon = now - this.interval - 2 * this.tick;
    let old = 0;
    while (old < sweeps.length - 1 && sweeps[old]! < horizon) this.#sweepSet.delete(sweeps[old++]!);
    if (old > 0) sweeps.splice(0, old);
  }

  /**
   * What the sweep at `now` does with a connection: nothing, a ping (the caller sends it when it
   * can and then calls {@link pinged}), or a drop. `heardAt`: when its transport last heard from
   * the peer, if it can tell.
   */
  decide(beat: HeartbeatPart, heardAt: number | undefined, now: number): Beat {
    if (heardAt !== undefined && heardAt > beat.lastPingAt) {
      // Heard since the last ping: that is the pong. The next ping is an interval from now.
      beat.awaitingPong = false;
      beat.lastPingAt = now;
      return Beat.NONE;
    }
    const since = now - beat.lastPingAt;
    if (beat.awaitingPong) {
      if (since < this.timeout) return Beat.NONE;
      const previous = this.#previous;
      if (previous === undefined) return Beat.NONE;
      const onTime = now - previous <= 2 * this.tick;
      return onTime || previous - beat.lastPingAt >= this.timeout ? Beat.DROP : Beat.NONE;
    }
    if (since >= this.interval) return Beat.PING;
    // Never pinged (lastPingAt is its opening, no sweep's time): the first ping falls on a
    // uniformly random sweep of the first interval, with the chance of a uniform distribution's
    // hazard (one tick over what is left of the interval).
    if (!this.#sweepSet.has(beat.lastPingAt) && this.#random() * (this.interval - since) < this.tick) return Beat.PING;
    return Beat.NONE;
  }

  /** The ping of {@link decide} went out at `now`. */
  pinged(beat: HeartbeatPart, now: number): void {
    beat.awaitingPong = true;
    beat.lastPingAt = now;
  }
}

/**
 * The heartbeat sweep's period: a quarter of the timeout, so that a late pong is noticed within
 * a quarter of it, and at most 1/64 of the interval, so that the pings due in one sweep are few.
 */
export function heartbeatTick(interval: number, timeout: number): number {
  return Math.max(5, Math.min(interval / 64, timeout / 4));
}

/** An endpoint's heartbeat and lifetime timers. */
export class Sweeps {
  readonly #endpoint: SweptEndpoint;
  #heartbeat: NodeJS.Timeout | undefined;
  #lifetimes: NodeJS.Timeout | undefined;

  constructor(endpoint: SweptEndpoint) {
    this.#endpoint = endpoint;
  }

  /** Starts the heartbeat, if the endpoint has one and it is not running. */
  startHeartbeat(): void {
    const { heartbeat } = this.#endpoint.options;
    if (!heartbeat || this.#heartbeat) return;
    const schedule = new HeartbeatSchedule(heartbeat.interval, heartbeat.timeout);
    this.#heartbeat = setInterval(sweepHeartbeat, schedule.tick, this.#endpoint, schedule);
    this.#heartbeat.unref();
  }

  /** Starts the idle and lifetime sweep, if it is not running. */
  startLifetimes(): void {
    if (this.#lifetimes) return;
    const { idleTimeout, maxLifetime } = this.#endpoint.options;
    const tick = Math.max(20, Math.min(idleTimeout, maxLifetime, 4000) / 8);
    this.#lifetimes = setInterval(sweepLifetimes, tick, this.#endpoint, new LifetimeClock(tick));
    this.#lifetimes.unref();
  }

  /** Stops the heartbeat. */
  stopHeartbeat(): void {
    if (this.#heartbeat) clearInterval(this.#heartbeat);
    this.#heartbeat = undefined;
  }

  /** Stops both: the last connection closed. */
  stop(): void {
    this.stopHeartbeat();
    if (this.#lifetimes) clearInterval(this.#lifetimes);
    this.#lifetimes = undefined;
  }
}

/** Pings what has been quiet (see {@link HeartbeatSchedule}); drops what did not answer in time. */
export function sweepHeartbeat(endpoint: SweptEndpoint, schedule: HeartbeatSchedule): void {
  const now = Math.floor(performance.now());
  schedule.begin(now);
  for (const connection of endpoint.connections) {
    // The heartbeat's part of the connection's policy state (connection/policy.ts).
    const beat: HeartbeatPart = policyOf(connection);
    const ws = transportOf(connection);
    const action = schedule.decide(beat, (ws as Heard).heardAt, now);
    if (action === Beat.DROP) {
      if (channels.limit.hasSubscribers)
        publishLimit('heartbeat', 'closed', connection, undefined, undefined, CloseCode.ABNORMAL);
      connection.terminate();
    } else if (action === Beat.PING && ws.readyState === 1) {
      schedule.pinged(beat, now);
      ws.ping();
    }
  }
}

/** The lifetime sweep's period, and when it last ran (whole ms): see {@link sweepLifetimes}. */
export class LifetimeClock {
  previous: number | undefined;
  constructor(readonly tick: number) {}
}

/**
 * Closes idle connections (4000) and those past their lifetime (4001); moves the activity clock.
 * A sweep more than two ticks late (the event loop was blocked) runs before the messages that came
 * meanwhile are read (timers run before I/O): it judges idleness as of the sweep before it, since
 * which the loop has read its sockets, so that a client that kept sending through a block is not
 * closed as idle. A lifetime is absolute.
 */
export function sweepLifetimes(endpoint: SweptEndpoint, clock?: LifetimeClock): void {
  const now = performance.now();
  const at = Math.floor(now);
  const previous = clock?.previous;
  if (clock) clock.previous = at;
  const late = clock !== undefined && (previous === undefined || at - previous > 2 * clock.tick);
  // As of when the loop last read its sockets: now on time, the sweep before when late.
  const read = late ? previous : at;
  if (endpoint.activityClock !== undefined) endpoint.activityClock = at;
  const { idleTimeout } = endpoint.options;
  for (const connection of endpoint.connections) {
    if (connection.readyState !== 1) continue;
    const life: LifetimePart = policyOf(connection);
    const expiresAt = life.expiresAt;
    if (expiresAt !== undefined && now >= expiresAt) {
      if (channels.limit.hasSubscribers)
        publishLimit('maxLifetime', 'closed', connection, undefined, undefined, CloseCode.EXPIRED);
      connection.close(CloseCode.EXPIRED, 'Connection lifetime expired');
    } else if (idleTimeout !== Infinity && read !== undefined && read - (life.lastActive ?? read) >= idleTimeout) {
      if (channels.limit.hasSubscribers)
        publishLimit('idleTimeout', 'closed', connection, undefined, undefined, CloseCode.IDLE_TIMEOUT);
      connection.close(CloseCode.IDLE_TIMEOUT, 'Idle timeout');
    }
  }
}
