/**
 * The exit statuses of `switchyard connect`, distinct so that a CI job or a health check can
 * tell "the server refused us" from "it was too slow" from "it hung up on us".
 */
export const ExitCode = {
  /** The script ran to the end, `/quit` or `/close` finished, or the server closed cleanly. */
  OK: 0,
  /** Something unexpected: a bug in this CLI, or a server that could not start. */
  FAILURE: 1,
  /** The command line was wrong (unknown flag, bad value). */
  USAGE: 2,
  /** No WebSocket: connection refused, DNS, TLS, or an HTTP answer other than a valid 101. */
  HANDSHAKE_FAILED: 3,
  /** `--timeout` ran out, during the handshake or while waiting for `--expect` messages. */
  TIMEOUT: 4,
  /** The server closed with a code other than 1000, 1001 or 1005, dropped the connection, or closed before `--expect` was met. */
  ABNORMAL_CLOSE: 5,
} as const;

/** One of the exit statuses above. */
export type ExitStatus = (typeof ExitCode)[keyof typeof ExitCode];
