/**
 * The reading side of a `for await` loop over a connection: a loop that falls behind pauses
 * ws's socket, or on the SSE fallback holds the answers to POSTs until it caught up.
 */
import { ErrorCode, withCode } from '../errors.js';
import { MessageQueue } from './iteration.js';
import type { IncomingMessage as QueuedMessage } from './iteration.js';
import type { Connection } from './connection.js';
import { kConnection, kHost, kQueue, kReadWaiters, kWs } from './symbols.js';
import { pauseReading } from '../internals/ws.js';

/** `Connection[Symbol.asyncIterator]`: see there. */
export function iterate<Incoming>(
  connection: Connection<any, Incoming, any>,
): AsyncIterableIterator<QueuedMessage<Incoming>> {
  if (connection[kQueue] !== undefined)
    throw withCode(new TypeError('This connection is already being iterated'), ErrorCode.ALREADY_ITERATING);
  const queue = new MessageQueue<Incoming>(new ReadControlOf(connection), connection[kHost].highWaterMark);
  connection[kQueue] = queue;
  if (connection[kWs].readyState > 1) queue.end();
  else connection[kHost].startedIterating(connection);
  return queue;
}

/** What a `for await` loop pauses: ws's socket, or on the SSE fallback the answers to POSTs. */
class ReadControlOf {
  readonly #connection: Connection<any, any, any>;
  constructor(connection: Connection<any, any, any>) {
    this.#connection = connection;
  }

  // A ws socket (routed, or injected in process) pauses its TCP socket; the SSE stand-in has no
  // pause() and holds POST answers instead.
  pauseReading(): void {
    const connection = this.#connection;
    if (!pauseReading(connection[kWs], true)) connection[kReadWaiters] ??= [];
  }

  resumeReading(): void {
    const connection = this.#connection;
    if (pauseReading(connection[kWs], false)) return;
    const waiters = connection[kReadWaiters];
    connection[kReadWaiters] = null;
    if (waiters) for (const waiter of waiters) waiter();
  }

  detached(): void {
    this.#connection[kQueue] = undefined;
  }
}

/**
 * On the SSE fallback, a promise that settles once a `for await` loop of the session's
 * connection has caught up, or `undefined` when nothing waits: the answer to a POST is held
 * until then, and the client sends its next POST only after that answer.
 */
export function whenReading(socket: object): Promise<void> | undefined {
  const connection = (socket as Record<symbol, Connection<any, any, any> | undefined>)[kConnection];
  const waiters = connection?.[kReadWaiters];
  if (!waiters) return undefined;
  return new Promise<void>((resolve) => waiters.push(resolve));
}
