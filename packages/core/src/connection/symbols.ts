/**
 * The keys of a connection's internal state. Symbols rather than private fields, so that the
 * endpoint, hooks, heartbeat and the connection's own modules can reach the same slots.
 */
import type { Connection } from './connection.js';

export const kWs = Symbol('switchyard.ws');
export const kHost = Symbol('switchyard.host');
export const kPending = Symbol('switchyard.pendingMessages');
export const kPings = Symbol('switchyard.pings');
export const kNeedDrain = Symbol('switchyard.needDrain');
export const kLastPingAt = Symbol('switchyard.lastPingAt');
export const kAwaitingPong = Symbol('switchyard.awaitingPong');
export const kOnClosed = Symbol('switchyard.onClosed');
export const kTopics = Symbol('switchyard.topics');
export const kMessageBucket = Symbol('switchyard.messageBucket');
export const kByteBucket = Symbol('switchyard.byteBucket');
/** The `controlRate` bucket, made on the first ping or unsolicited pong. */
export const kControlBucket = Symbol('switchyard.controlBucket');
export const kActive = Symbol('switchyard.active');
export const kExpiresAt = Symbol('switchyard.expiresAt');
export const kQueue = Symbol('switchyard.queue');
export const kClosedByServer = Symbol('switchyard.closedByServer');
/** @internal `drain()` promises waiting for room. */
export const kDrainWaiters = Symbol('switchyard.drainWaiters');
/** @internal On the SSE fallback: POSTs held while a loop is behind. */
export const kReadWaiters = Symbol('switchyard.readWaiters');
/** @internal Listeners of faye-style code. */
export const kEmitter = Symbol('switchyard.emitter');
/** The close code switchyard sent because the peer broke the protocol (ws stops reading after it). */
export const kSentCode = Symbol('switchyard.sentCode');
/** Where a socket (or the socket under it) points back at its connection. */
export const kConnection = Symbol('switchyard.connection');

/** A `ping()` waiting for its pong. */
export interface PendingPing {
  payload: Buffer;
  sentAt: number;
  resolve(rtt: number): void;
  reject(error: Error): void;
}

/** The connection a socket (or the socket under it) belongs to. */
export function connectionOf(emitter: object): Connection<any, any, any> {
  return (emitter as Record<symbol, Connection<any, any, any>>)[kConnection]!;
}
