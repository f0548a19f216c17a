/** Reconnection timing. */
export interface ReconnectOptions {
  /** Wait before the first retry, in ms. Default 1000. */
  initialDelay?: number;
  /** Longest wait between retries, in ms. Default 30 000. */
  maxDelay?: number;
  /** Each retry waits this many times longer than the one before. Default 2. */
  factor?: number;
  /** Up to this fraction of each wait is taken off at random (0: none, 1: "full jitter"). Default 0.5. */
  jitter?: number;
  /** Give up after this many failed retries in a row. Default: never. */
  maxRetries?: number;
}

/** The reconnection settings when the app gives none. */
export const DEFAULT_RECONNECT: Required<ReconnectOptions> = {
  initialDelay: 1000,
  maxDelay: 30_000,
  factor: 2,
  jitter: 0.5,
  maxRetries: Infinity,
};

/**
 * How long to wait before retry number `attempt` (counting from 0): exponential and capped, then
 * shortened at random so that the clients of a server that restarted don't all come back in the
 * same millisecond.
 */
export function backoffDelay(
  attempt: number,
  options: Required<ReconnectOptions>,
  random: () => number = Math.random,
): number {
  const delay = Math.min(options.maxDelay, options.initialDelay * options.factor ** attempt);
  return Math.round(delay * (1 - options.jitter * random()));
}

/**
 * How long to wait before a retry when the server refused the last attempt with `Retry-After`
 * (`retryAfter` ms, already capped): never sooner than it asked, nor sooner than the backoff. The
 * wait is spread at random up to `jitter` times longer than asked, so that the clients a server
 * refused together don't all come back together.
 */
export function retryAfterDelay(
  retryAfter: number,
  backoff: number,
  options: Required<ReconnectOptions>,
  random: () => number = Math.random,
): number {
  return Math.max(backoff, Math.round(retryAfter * (1 + options.jitter * random())));
}
