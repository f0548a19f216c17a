/**
 * One connection's policy state: the single object in which the endpoint's per-connection
 * policies keep what they track about a connection. The Connection holds it (one slot), and
 * nothing else writes a Connection's parts: each policy reads and writes only its own part of
 * this object, through the small interface below that names it.
 *
 *   HeartbeatPart  the heartbeat (endpoint/heartbeat.ts): when the last ping went out, and
 *                  whether its pong is awaited; a pong clears it through `pongArrived()`.
 *   LifetimePart   idle and lifetime (endpoint/heartbeat.ts sweeps, endpoint/open.ts): the
 *                  last activity mark (moved by traffic through `touch()`) and the end of life.
 *   RatePart       rate limits: the `rateLimit` buckets (endpoint/hooks.ts, made by
 *                  endpoint/open.ts) and the `controlRate` bucket (`takeControl()`).
 *   OpenPart       the open path (endpoint/open.ts, endpoint/hooks.ts): messages held while an
 *                  async `open` or validation runs, and who waits for the close handlers.
 *
 * Recovery keeps its per-connection state in its own table (recovery/state.ts), keyed by the
 * connection's transport. Rarely used slots are declared, not initialised, so that an idle
 * connection stays small: a property exists only on the connections whose policy uses it.
 */
import { TokenBucket } from '../limits.js';
import type { Rate } from '../limits.js';

/** The heartbeat's part. */
export interface HeartbeatPart {
  /** When the heartbeat last pinged (whole ms of performance.now(), a small integer). */
  lastPingAt: number;
  /** True while that ping's pong is awaited. */
  awaitingPong: boolean;
}

/** The idle and lifetime sweep's part. */
export interface LifetimePart {
  /** Last message either way (ms), only with `idleTimeout`. */
  lastActive: number | undefined;
  /** When the connection must end (performance.now() time), with `maxLifetime`. */
  expiresAt: number | undefined;
}

/** The rate limits' part. */
export interface RatePart {
  /** `rateLimit.messages`, set only on endpoints with it. */
  messages: TokenBucket | undefined;
  /** `rateLimit.bytes`. */
  bytes: TokenBucket | undefined;
  /** `controlRate`, made on the first ping or unsolicited pong. */
  control: TokenBucket | undefined;
}

/** The open path's part. */
export interface OpenPart {
  /** Messages that arrived while an async `open` or validation ran; `null` once delivered. */
  pending: Array<[string | Buffer, boolean]> | null | undefined;
  /** Who waits for the close handlers to have run (closeAll). */
  closeWaiters: Array<() => void> | undefined;
}

/** The one object holding a connection's policy state; see the module comment for its parts. */
export class PolicyState implements HeartbeatPart, LifetimePart, RatePart, OpenPart {
  lastPingAt: number;
  awaitingPong = false;
  declare lastActive: number | undefined;
  declare expiresAt: number | undefined;
  declare messages: TokenBucket | undefined;
  declare bytes: TokenBucket | undefined;
  declare control: TokenBucket | undefined;
  declare pending: Array<[string | Buffer, boolean]> | null | undefined;
  declare closeWaiters: Array<() => void> | undefined;

  constructor(now: number) {
    // Whole milliseconds stay a small integer, stored in the object instead of a boxed double.
    this.lastPingAt = Math.floor(now);
  }

  /** Traffic either way: the idle policy's activity mark moves to `clock` (when it is on). */
  touch(clock: number): void {
    this.lastActive = clock;
  }

  /** A pong arrived: true when the heartbeat was waiting for one, which it no longer is. */
  pongArrived(): boolean {
    const awaited = this.awaitingPong;
    this.awaitingPong = false;
    return awaited;
  }

  /** Takes a control frame's token from the `controlRate` bucket (made on first use). */
  takeControl(rate: Rate, now: number): boolean {
    const bucket = (this.control ??= new TokenBucket(rate, now));
    return bucket.take(rate, now);
  }
}
