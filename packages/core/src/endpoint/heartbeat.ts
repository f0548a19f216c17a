/**
 * The two timers of an endpoint, each one per endpoint instead of one per connection: the
 * heartbeat (a ping every `heartbeat.interval`; no pong within `heartbeat.timeout` drops the
 * connection, 1006) and the sweep of `idleTimeout` (4000) and `maxLifetime` (4001), which also
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
    const tick = Math.max(5, Math.min(heartbeat.interval, heartbeat.timeout) / 4);
    this.#heartbeat = setInterval(sweepHeartbeat, tick, this.#endpoint, heartbeat.interval, heartbeat.timeout);
    this.#heartbeat.unref();
  }

  /** Starts the idle and lifetime sweep, if it is not running. */
  startLifetimes(): void {
    if (this.#lifetimes) return;
    const { idleTimeout, maxLifetime } = this.#endpoint.options;
    const tick = Math.max(20, Math.min(idleTimeout, maxLifetime, 4000) / 8);
    this.#lifetimes = setInterval(sweepLifetimes, tick, this.#endpoint);
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

/** Pings what has been quiet for `interval`; drops what did not answer within `timeout`. */
export function sweepHeartbeat(endpoint: SweptEndpoint, interval: number, timeout: number): void {
  const now = Math.floor(performance.now());
  for (const connection of endpoint.connections) {
    // The heartbeat's part of the connection's policy state (connection/policy.ts).
    const beat: HeartbeatPart = policyOf(connection);
    const since = now - beat.lastPingAt;
    if (beat.awaitingPong) {
      if (since >= timeout) {
        if (channels.limit.hasSubscribers)
          publishLimit('heartbeat', 'closed', connection, undefined, undefined, CloseCode.ABNORMAL);
        connection.terminate();
      }
    } else if (since >= interval) {
      const ws = transportOf(connection);
      if (ws.readyState !== 1) continue;
      beat.awaitingPong = true;
      beat.lastPingAt = now;
      ws.ping();
    }
  }
}

/** Closes idle connections (4000) and those past their lifetime (4001); moves the activity clock. */
export function sweepLifetimes(endpoint: SweptEndpoint): void {
  const now = performance.now();
  const clock = Math.floor(now);
  if (endpoint.activityClock !== undefined) endpoint.activityClock = clock;
  const { idleTimeout } = endpoint.options;
  for (const connection of endpoint.connections) {
    if (connection.readyState !== 1) continue;
    const life: LifetimePart = policyOf(connection);
    const expiresAt = life.expiresAt;
    if (expiresAt !== undefined && now >= expiresAt) {
      if (channels.limit.hasSubscribers)
        publishLimit('maxLifetime', 'closed', connection, undefined, undefined, CloseCode.EXPIRED);
      connection.close(CloseCode.EXPIRED, 'Connection lifetime expired');
    } else if (idleTimeout !== Infinity && clock - (life.lastActive ?? clock) >= idleTimeout) {
      if (channels.limit.hasSubscribers)
        publishLimit('idleTimeout', 'closed', connection, undefined, undefined, CloseCode.IDLE_TIMEOUT);
      connection.close(CloseCode.IDLE_TIMEOUT, 'Idle timeout');
    }
  }
}
