/**
 * Close codes by name, and which of them the client reconnects after. The table is the server's
 * own: `./protocol.js` is the file core compiles too, with no imports, so the client stays
 * free of dependencies.
 */
import { CloseCode } from './protocol.js';

export { CloseCode };

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

/**
 * Codes that a whole server's clients get together: it shuts down (1001), restarts (1012) or sheds
 * load (1013). The first reconnect after one is spread over `reconnect.spread`.
 */
const MASS: ReadonlySet<number> = new Set([CloseCode.GOING_AWAY, CloseCode.SERVICE_RESTART, CloseCode.TRY_AGAIN_LATER]);

/** Whether `code` is one that all of a server's clients may get at once. */
export function isMassClose(code: number): boolean {
  return MASS.has(code);
}
