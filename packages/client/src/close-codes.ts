/**
 * Close codes by name, and which of them the client reconnects after. The client can't import
 * `@switchyard/core` (it has no dependencies and runs in browsers), so it keeps its own table.
 */
export const CloseCode = {
  /** The purpose of the connection has been fulfilled. */
  NORMAL: 1000,
  /** The server is going down or restarting. */
  GOING_AWAY: 1001,
  /** A peer broke the protocol. */
  PROTOCOL_ERROR: 1002,
  /** The connection dropped without a close frame; never sent. */
  ABNORMAL: 1006,
  /** A message was larger than the server's `maxPayload`. */
  MESSAGE_TOO_BIG: 1009,
  /** A server handler failed. */
  INTERNAL_ERROR: 1011,
  /** The service is restarting. */
  SERVICE_RESTART: 1012,
  /** The server is overloaded; try again later. */
  TRY_AGAIN_LATER: 1013,
  /** A gateway could not reach the server. */
  BAD_GATEWAY: 1014,
  /** switchyard: nothing was said either way for the endpoint's `idleTimeout`. */
  IDLE_TIMEOUT: 4000,
  /** switchyard: the connection's lifetime (or its token) expired; reconnect and authenticate again. */
  EXPIRED: 4001,
} as const;

/**
 * Codes that say "the connection failed, not the conversation": a restart, a crash, a dropped
 * network, and 4001, a lifetime that ended so that the client authenticates again. Every other
 * code (1000, the client's own errors 1002/1003/1007/1008/1009, 4000 for an idle connection,
 * and the application's other 4000–4999) is an answer that a new connection would only repeat.
 */
const TRANSIENT: ReadonlySet<number> = new Set([
  CloseCode.GOING_AWAY,
  CloseCode.ABNORMAL,
  CloseCode.INTERNAL_ERROR,
  CloseCode.SERVICE_RESTART,
  CloseCode.TRY_AGAIN_LATER,
  CloseCode.BAD_GATEWAY,
  CloseCode.EXPIRED,
]);

/** Whether a connection that ended with `code` should be reconnected. */
export function isTransient(code: number): boolean {
  return TRANSIENT.has(code);
}
