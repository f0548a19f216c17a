/**
 * Reconnection timing: exponential backoff with AWS's "full jitter" (each wait drawn uniformly
 * below the exponential ceiling), a spread window for the first reconnect after a mass close, and
 * the wait a server's `Retry-After` asks for, spread too.
 */

/** Reconnection timing. */
export interface ReconnectOptions {
  /** The ceiling of the first retry's wait, in ms. Default 1000. */
  initialDelay?: number;
  /** The highest ceiling: no wait of the backoff or the spread is longer (ms). Default 30 000. */
  maxDelay?: number;
  /** Each retry's ceiling is this many times the one before. Default 2. */
  factor?: number;
  /**
   * The fraction of each ceiling drawn at random: the wait is uniform between `(1 − jitter) ×`
   * ceiling and the ceiling. Default 1, "full jitter": uniform from 0 to the ceiling.
   */
  jitter?: number;
  /**
   * After a close that a whole server's clients get at once (1001 going away, 1012 restart, 1013
   * try again later), the first reconnect waits uniformly at random in [0, spread) ms (at most
   * `maxDelay`), so that they come back spread over that window, not in one burst. Also the window,
   * from losing an open connection, in which an attempt refused outright (ECONNREFUSED, seen with
   * `ws`: the node is restarting) does not grow the backoff. Default 5000.
   */
  spread?: number;
  /** Give up after this many failed retries in a row. Default: never. */
  maxRetries?: number;
}

/** The reconnection settings when the app gives none. */
export const DEFAULT_RECONNECT: Required<ReconnectOptions> = {
  initialDelay: 1000,
  maxDelay: 30_000,
  factor: 2,
  jitter: 1,
  spread: 5000,
  maxRetries: Infinity,
};

/** The ceiling of retry number `attempt` (from 0): `initialDelay × factor^attempt`, at most `maxDelay`. */
export function backoffCeiling(attempt: number, options: Required<ReconnectOptions>): number {
  // 0 × Infinity (factor^attempt overflowed) is NaN: a zero initial delay stays zero.
  if (options.initialDelay === 0) return 0;
  return Math.min(options.maxDelay, options.initialDelay * options.factor ** attempt);
}

/**
 * How long to wait before retry number `attempt` (counting from 0): a random draw below the
 * exponential, capped ceiling, so that the clients of a server that restarted don't all come back
 * in the same millisecond. `random` returns a number in [0, 1), as `Math.random` does.
 */
export function backoffDelay(
  attempt: number,
  options: Required<ReconnectOptions>,
  random: () => number = Math.random,
): number {
  return Math.floor(backoffCeiling(attempt, options) * (1 - options.jitter * random()));
}

/** The wait before the first reconnect after a mass close: uniform in [0, spread), at most `maxDelay`. */
export function spreadDelay(options: Required<ReconnectOptions>, random: () => number = Math.random): number {
  return Math.floor(Math.min(options.spread, options.maxDelay) * random());
}

/**
 * How long to wait before a retry when the server refused the last attempt with `Retry-After`
 * (`retryAfter` ms, already capped): never sooner than it asked, nor sooner than the backoff. The
 * wait is spread at random up to `jitter` times longer than asked (up to twice, by default), so
 * that the clients a server refused together don't all come back together.
 */
export function retryAfterDelay(
  retryAfter: number,
  backoff: number,
  options: Required<ReconnectOptions>,
  random: () => number = Math.random,
): number {
  return Math.max(backoff, Math.round(retryAfter * (1 + options.jitter * random())));
}
