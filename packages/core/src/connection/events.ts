/**
 * What a connection does with its socket's events: incoming messages, pings and pongs, errors,
 * and the close and fail paths. The functions are shared by every connection (no per-connection
 * closures), found from the socket through `kConnection`.
 */
import { ErrorCode, withCode } from '../errors.js';
import { CloseCode } from '../protocol.js';
import { channels, publishLimit } from '../diagnostics.js';
import { TokenBucket } from '../limits.js';
import type { CloseMessage, MessageMessage } from '../diagnostics.js';
import type { Connection } from './connection.js';
import type { CloseEvent } from './types.js';
import {
  connectionOf,
  kActive,
  kAwaitingPong,
  kClosedByServer,
  kConnection,
  kControlBucket,
  kHost,
  kLastPingAt,
  kPending,
  kPings,
  kQueue,
  kReadWaiters,
  kSentCode,
  kWs,
} from './symbols.js';
import { settleDrainWaiters } from './send.js';
import { leaveTopics } from './topics.js';
import type { Transport } from './transport.js';
import { failWebSocket, isRouted, routeWsEvents } from '../internals/ws.js';

/** Points the socket back at its connection and, unless it routes its events itself, listens to it. */
export function attachSocket(connection: Connection<any, any, any>, ws: Transport, wantsPings: boolean): void {
  (ws as unknown as Record<symbol, unknown>)[kConnection] = connection;
  // A RoutedWebSocket hands its events over itself; anything else (the SSE fallback's
  // stand-in) gets the same shared functions as listeners.
  if (isRouted(ws)) return;
  ws.on('message', onWsMessage);
  ws.on('close', onWsClose);
  ws.on('error', onWsError);
  if (wantsPings) ws.on('ping', onWsPing);
  ws.on('pong', onWsPong);
}

/** The close code ws sends for each of its receiver errors. */
function closeCodeForError(error: Error & { code?: string }): number {
  switch (error.code) {
    case 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH':
    case 'WS_ERR_UNSUPPORTED_DATA_PAYLOAD_LENGTH':
      return CloseCode.MESSAGE_TOO_BIG;
    case 'WS_ERR_INVALID_UTF8':
      return CloseCode.INVALID_PAYLOAD;
    case 'WS_ERR_TOO_MANY_BUFFERED_PARTS':
      return CloseCode.POLICY_VIOLATION;
    default:
      return CloseCode.PROTOCOL_ERROR;
  }
}

/**
 * RFC 6455 §7.1.7 "Fail the WebSocket Connection": one close frame, then the TCP connection
 * ends without waiting for the peer's answer, and no further message is delivered. This is
 * what ws does for its own receiver errors (transport-ws.ts).
 */
function failConnection(connection: Connection<any, any, any>, code: number): void {
  const ws = connection[kWs];
  connection[kSentCode] = code;
  connection[kClosedByServer] = true;
  if (ws.readyState !== 1) return;
  failWebSocket(ws, code);
}

export function onWsMessage(this: Transport, data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean): void {
  const connection = connectionOf(this);
  const buffer = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
  if (connection[kSentCode] !== undefined) return;
  if (buffer.length > connection[kHost].maxPayload) {
    // Only reachable with compression, where ws's own limit allows for deflate's overhead.
    failConnection(connection, CloseCode.MESSAGE_TOO_BIG);
    return;
  }
  const payload = isBinary ? buffer : buffer.toString();
  const host = connection[kHost];
  const counters = host.counters;
  if (counters !== undefined) {
    counters.messagesIn++;
    counters.bytesIn += buffer.length;
  }
  if (channels.messageIn.hasSubscribers) {
    const message: MessageMessage = { connection, size: buffer.length, isBinary };
    channels.messageIn.publish(message);
  }
  const clock = host.activityClock;
  if (clock !== undefined) connection[kActive] = clock;
  const pending = connection[kPending];
  if (pending) pending.push([payload, isBinary]);
  else connection[kHost].dispatchMessage(connection, payload, isBinary);
}

export function onWsClose(this: Transport, code: number, reason: Buffer): void {
  const connection = connectionOf(this);
  leaveTopics(connection);
  const pings = connection[kPings];
  if (pings) {
    for (const ping of pings)
      ping.reject(withCode(new Error(`WebSocket closed (${code}) before the pong`), ErrorCode.CLOSED_BEFORE_PONG));
    connection[kPings] = undefined;
  }
  settleDrainWaiters(connection);
  connection[kQueue]?.end();
  const readers = connection[kReadWaiters];
  connection[kReadWaiters] = null;
  if (readers) for (const reader of readers) reader();
  // After a protocol error ws sends its close frame and stops reading, so the peer's answer is
  // never seen and ws reports 1006; the close handler is told the code that went out instead.
  const sent = connection[kSentCode];
  if (sent !== undefined && code === CloseCode.ABNORMAL) {
    connection[kHost].dispatchClose(connection, { code: sent, reason: reason.toString(), wasClean: false });
    return;
  }
  const wasClean = code !== CloseCode.ABNORMAL;
  connection[kHost].dispatchClose(connection, { code, reason: reason.toString(), wasClean });
}

export function onWsError(this: Transport, error: Error): void {
  // ws closes the connection itself with the right code (1002, 1007, 1009); this listener
  // exists so that one malformed frame can never become an uncaught 'error'.
  const connection = connectionOf(this);
  if ((error as Error & { code?: string }).code?.startsWith('WS_ERR_')) {
    connection[kSentCode] = closeCodeForError(error);
    // ws sent the close frame: this side closed first, whatever the peer answers (or not).
    connection[kClosedByServer] = true;
  }
  connection[kHost].dispatchError(connection, error);
}

/**
 * Takes a control frame's token from the connection's `controlRate` bucket; past the budget the
 * connection fails with 1008, so that a flood stops costing a pong and a dispatch per frame.
 */
function withinControlRate(connection: Connection<any, any, any>): boolean {
  const rate = connection[kHost].controlRate;
  if (rate === undefined) return true;
  const now = performance.now();
  const bucket = (connection[kControlBucket] ??= new TokenBucket(rate, now));
  if (bucket.take(rate, now)) return true;
  publishLimit('controlRate', 'closed', connection, undefined, undefined, CloseCode.POLICY_VIOLATION);
  failConnection(connection, CloseCode.POLICY_VIOLATION);
  return false;
}

export function onWsPing(this: Transport, data: Buffer): void {
  const connection = connectionOf(this);
  // After a close this side sent, a ping gets no pong (ws answers only while open) and no hook.
  if (connection[kSentCode] !== undefined || !withinControlRate(connection)) return;
  connection[kHost].dispatchControl(connection, 'ping', data);
}

export function onWsPong(this: Transport, data: Buffer): void {
  const connection = connectionOf(this);
  if (connection[kSentCode] !== undefined) return;
  const counters = connection[kHost].counters;
  // A pong answering this side's ping is paced by this side; only unsolicited ones are counted.
  let solicited = connection[kAwaitingPong];
  // The heartbeat's pings carry no payload and are timed to the millisecond they were sent at.
  if (solicited && data.length === 0) counters?.rtt(performance.now() - connection[kLastPingAt]);
  connection[kAwaitingPong] = false;
  const pings = connection[kPings];
  if (pings) {
    const index = pings.findIndex((ping) => ping.payload.equals(data));
    if (index !== -1) {
      solicited = true;
      const [ping] = pings.splice(index, 1);
      const rtt = performance.now() - ping!.sentAt;
      counters?.rtt(rtt);
      ping!.resolve(rtt);
    }
  }
  if (!solicited && !withinControlRate(connection)) return;
  connection[kHost].dispatchControl(connection, 'pong', data);
}

/** Builds the `closedBy` of a close event for the diagnostics channel. */
export function closeMessage(connection: Connection<any, any, any>, event: CloseEvent): CloseMessage {
  return {
    connection,
    code: event.code,
    reason: event.reason,
    wasClean: event.wasClean,
    closedBy: connection[kClosedByServer] ? 'server' : 'client',
  };
}

routeWsEvents(
  { message: onWsMessage, close: onWsClose, error: onWsError, ping: onWsPing, pong: onWsPong },
  kConnection,
);
