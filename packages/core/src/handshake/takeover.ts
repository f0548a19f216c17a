/**
 * The state of one upgrade request on its way out of Node's HTTP machinery (a Takeover, kept
 * per request), the listener baseline taken before the framework saw it, and the guard that
 * keeps a client's reset harmless until a WebSocket owns the socket. Shared by the takeover
 * itself (hijack.ts), the server's upgrade routing (route-upgrades.ts) and late-write dropping
 * (late-write.ts).
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { storedListeners } from '../internals/node.js';
import type { StoredListener, StoredListeners as Stored } from '../internals/node.js';

/** A socket that has left Node's HTTP machinery, and the bytes that followed the headers. */
export interface TakenSocket {
  socket: Duplex;
  head: Buffer;
}

/**
 * An upgrade request on its way out of Node's HTTP machinery. Kept in a WeakMap, not on the
 * request: frameworks reshape requests (Express swaps their prototype), and a new property on
 * such an object cost microseconds per handshake in the profile.
 */
export class Takeover {
  socket: Duplex | undefined = undefined;
  head: Buffer | undefined = undefined;
  resolve: ((taken: TakenSocket) => void) | undefined = undefined;
  /** The socket's listeners before the framework saw the request (see releaseRequestListeners). */
  baseline: Stored[] | undefined = undefined;
  /** The path the late-write warning names, once the response is detached. */
  path: string | undefined = undefined;
}

/** Each upgrade request's takeover, until the request is collected. */
export const takeovers = new WeakMap<IncomingMessage, Takeover>();

/** Starts (or restarts) the takeover of `req`. */
export function startTakeover(req: IncomingMessage): Takeover {
  const takeover = new Takeover();
  takeovers.set(req, takeover);
  return takeover;
}

/** Socket events that request-scoped code (on-finished, loggers) listens to. */
const REQUEST_EVENTS = ['error', 'close', 'end', 'finish', 'timeout', 'drain'] as const;

/**
 * The socket's listeners of REQUEST_EVENTS, read from EventEmitter's own store (one array per
 * handshake instead of a Map and six copies); EventEmitter grows an array in place, so arrays
 * are copied.
 */
export function snapshotListeners(socket: Duplex): Stored[] {
  const baseline: Stored[] = [];
  for (const event of REQUEST_EVENTS) {
    const stored = storedListeners(socket, event);
    baseline.push(Array.isArray(stored) ? stored.slice() : stored);
  }
  return baseline;
}

function isIn(listener: StoredListener, stored: Stored): boolean {
  return stored === listener || (Array.isArray(stored) && stored.includes(listener));
}

/**
 * Removes the socket listeners that the framework attached while it handled the upgrade
 * request (Koa's and Express's on-finished add 'error' and 'close'). They belong to an HTTP
 * exchange that is over: left in place, a client's reset would surface as an app error, a 500
 * written into the WebSocket, and the whole request context would stay in memory per
 * connection. Listeners that were there before the request (connection tracking) stay.
 */
export function releaseRequestListeners(req: IncomingMessage, socket: Duplex): void {
  const baseline = takeovers.get(req)?.baseline;
  if (!baseline) return;
  for (let i = 0; i < REQUEST_EVENTS.length; i++) {
    const event = REQUEST_EVENTS[i]!;
    const now = storedListeners(socket, event);
    if (now === undefined || now === baseline[i]) continue;
    for (const stored of Array.isArray(now) ? now.slice() : [now]) {
      // removeListener accepts a once() wrapper as stored, as well as what was passed to once().
      if (stored !== ignoreSocketError && !isIn(stored, baseline[i])) {
        socket.removeListener(event, stored as (...args: unknown[]) => void);
      }
    }
  }
}

/** The guard 'error' listener on a socket that nothing owns yet. */
export function ignoreSocketError(): void {
  // Until a WebSocket owns it, a reset from the client is nobody's business: Node removed its
  // own error listener when it handed the socket over, and an unhandled 'error' would crash.
}

/** Removes the guard listener once a WebSocket (which listens for errors itself) owns the socket. */
export function releaseSocket(socket: Duplex): void {
  socket.removeListener('error', ignoreSocketError);
}
