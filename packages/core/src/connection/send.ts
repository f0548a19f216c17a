/**
 * The sending side of a connection: `send`, a hub's shared frames, the high-water mark and
 * `maxBufferedAmount`, `drain`, and the outgoing counters and diagnostics.
 */
import type { EventEmitter } from 'node:events';
import { CloseCode } from '../protocol.js';
import { channels, publishLimit, sizeOf } from '../diagnostics.js';
import type { BackpressureMessage, MessageMessage } from '../diagnostics.js';
import type { Connection } from './connection.js';
import type { SendData } from './types.js';
import { connectionOf, kActive, kConnection, kDrainWaiters, kHost, kNeedDrain, kWs } from './symbols.js';
import { drainSource, writeFrame } from '../internals/ws.js';

/** `Connection.send`: see there. */
export function sendData(connection: Connection<any, any, any>, data: unknown): boolean {
  const ws = connection[kWs];
  if (ws.readyState !== 1) return false;
  const host = connection[kHost];
  const clock = host.activityClock;
  if (clock !== undefined) connection[kActive] = clock;
  let payload = data as SendData;
  let binary = typeof data !== 'string';
  if (binary && !isBinaryData(data)) {
    payload = JSON.stringify(data);
    binary = false;
  }
  ws.send(payload, { binary });
  countOut(connection, payload, binary);
  return checkBuffered(connection);
}

/** `Connection.sendFrame`: see there. */
export function sendSharedFrame(
  connection: Connection<any, any, any>,
  frame: Buffer,
  payload: string | Buffer,
  isBinary: boolean,
): boolean {
  const ws = connection[kWs];
  if (ws.readyState !== 1) return false;
  const clock = connection[kHost].activityClock;
  if (clock !== undefined) connection[kActive] = clock;
  writeFrame(ws, frame, payload, isBinary);
  countOut(connection, frame, isBinary, framedLength(frame));
  return checkBuffered(connection);
}

/** `Connection.drain`: see there. */
export function whenDrained(connection: Connection<any, any, any>): Promise<void> {
  if (connection[kWs].readyState > 1 || connection[kWs].bufferedAmount <= connection[kHost].highWaterMark)
    return Promise.resolve();
  return new Promise<void>((resolve) => {
    (connection[kDrainWaiters] ??= []).push(resolve);
    armDrain(connection);
  });
}

/**
 * After a send: `true` below the high-water mark; otherwise arms one 'drain', and closes a
 * consumer that fell more than `maxBufferedAmount` behind.
 */
function checkBuffered(connection: Connection<any, any, any>): boolean {
  const ws = connection[kWs];
  const host = connection[kHost];
  const buffered = ws.bufferedAmount;
  if (buffered <= host.highWaterMark) return true;
  if (buffered > host.maxBufferedAmount) {
    // A consumer this far behind would only grow our memory: no more data, and 1008.
    if (channels.limit.hasSubscribers)
      publishLimit('maxBufferedAmount', 'closed', connection, undefined, undefined, CloseCode.POLICY_VIOLATION);
    connection.close(CloseCode.POLICY_VIOLATION, 'Slow consumer: too much data buffered');
    return false;
  }
  if (!connection[kNeedDrain] && channels.backpressure.hasSubscribers)
    publishBackpressure(connection, 'full', buffered);
  armDrain(connection);
  return false;
}

/** Listens (once) for the socket's 'drain'. */
function armDrain(connection: Connection<any, any, any>): void {
  if (connection[kNeedDrain]) return;
  connection[kNeedDrain] = true;
  const source = drainSource(connection[kWs] as unknown as EventEmitter);
  if (source === undefined) {
    // ws's socket is out of reach: look again shortly instead of waiting for its 'drain'.
    setTimeout(pollDrain, DRAIN_POLL, connection);
    return;
  }
  (source as unknown as Record<symbol, unknown>)[kConnection] = connection;
  source.once('drain', onSocketDrain);
}

/** How often (ms) `bufferedAmount` is looked at when no 'drain' event can be listened to. */
const DRAIN_POLL = 10;

function pollDrain(connection: Connection<any, any, any>): void {
  onSocketDrain.call({ [kConnection]: connection });
}

function publishBackpressure(
  connection: Connection<any, any, any>,
  state: 'full' | 'drained',
  bufferedAmount: number,
): void {
  const message: BackpressureMessage = {
    connection,
    state,
    bufferedAmount,
    highWaterMark: connection[kHost].highWaterMark,
  };
  channels.backpressure.publish(message);
}

/** True for what `send` sends as binary as it is; anything else that is not a string is JSON. */
function isBinaryData(data: unknown): boolean {
  return (
    Buffer.isBuffer(data) ||
    ArrayBuffer.isView(data) ||
    data instanceof ArrayBuffer ||
    data instanceof SharedArrayBuffer
  );
}

/**
 * The payload length of a server frame (unmasked), read from its header: a hub delivers one
 * frame to many sockets, and measuring a text payload per delivery would cost O(length) each.
 */
function framedLength(frame: Buffer): number {
  const short = frame[1]! & 0x7f;
  if (short < 126) return short;
  return short === 126 ? frame.readUInt16BE(2) : Number(frame.readBigUInt64BE(2));
}

/** Counts and publishes an outgoing message (`known`: its size when already at hand). */
function countOut(connection: Connection<any, any, any>, data: SendData, isBinary: boolean, known?: number): void {
  const counters = connection[kHost].counters;
  const observed = channels.messageOut.hasSubscribers;
  if (counters === undefined && !observed) return;
  const size = known ?? sizeOf(data);
  if (counters !== undefined) {
    counters.messagesOut++;
    counters.bytesOut += size;
  }
  if (observed) {
    const message: MessageMessage = { connection, size, isBinary };
    channels.messageOut.publish(message);
  }
}

function onSocketDrain(this: object): void {
  const connection = connectionOf(this);
  connection[kNeedDrain] = false;
  const buffered = connection[kWs].bufferedAmount;
  // The socket drained, but ws may still hold queued (compressing) sends above the mark.
  if (buffered > connection[kHost].highWaterMark && connection[kWs].readyState === 1) {
    armDrain(connection);
    return;
  }
  if (channels.backpressure.hasSubscribers) publishBackpressure(connection, 'drained', buffered);
  settleDrainWaiters(connection);
  connection[kHost].dispatchControl(connection, 'drain');
}

export function settleDrainWaiters(connection: Connection<any, any, any>): void {
  const waiters = connection[kDrainWaiters];
  if (!waiters) return;
  connection[kDrainWaiters] = undefined;
  for (const waiter of waiters) waiter();
}
