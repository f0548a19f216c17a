/**
 * A connection: the public `Connection` class (what handlers receive as `ws`) and everything it
 * does with its socket, in one place. In order below: the types around it and the part of an
 * endpoint it calls back into (ConnectionHost); the class; the socket's events (incoming
 * messages, pings and pongs, errors, the close and fail paths); the sending side (backpressure,
 * `drain`); faye-style listeners; `for await` reading; topics.
 *
 * Its own slots are under the symbol keys of ./symbols.ts, written only here. What the
 * endpoint's policies track per connection (heartbeat, idle and lifetime, rate limits, the open
 * path) is one PolicyState object (./policy.ts), each policy owning its part. The socket-side
 * functions are shared by every connection (no per-connection closures), found from the socket
 * through `kConnection`.
 */
import { Buffer } from 'node:buffer';
import { EventEmitter } from 'node:events';
import { ErrorCode, withCode } from '../errors.js';
import { CloseCode } from '../protocol.js';
import { channels, publishLimit, sizeOf } from '../diagnostics.js';
import type { Rate } from '../limits.js';
import type { RequestInfo } from '../handshake/request.js';
import type { DurableEntry, EnvelopeCache } from '../hub/durable.js';
import { drainSource, failWebSocket, isRouted, pauseReading, routeWsEvents, writeFrame } from '../internals/ws.js';
import { MessageQueue } from './iteration.js';
import type { IncomingMessage as QueuedMessage } from './iteration.js';
import { PolicyState } from './policy.js';
import type { FrameSink, Transport } from './transport.js';
import {
  kClosedByServer,
  kConnection,
  kDrainWaiters,
  kEmitter,
  kHost,
  kNeedDrain,
  kPings,
  kPolicy,
  kQueue,
  kReadWaiters,
  kSentCode,
  kTopics,
  kWs,
} from './symbols.js';

/** Data accepted by `send`: text as a string, binary as a Buffer, ArrayBuffer or typed array. */
export type SendData = string | Buffer | ArrayBuffer | ArrayBufferView;

/** What a `close` handler receives. */
export interface CloseEvent {
  /** The close code: the peer's, or 1005 (none given) or 1006 (dropped, or terminated). */
  code: number;
  /** The close reason, decoded as UTF-8. */
  reason: string;
  /** True when a close frame was received. */
  wasClean: boolean;
}

/** The events a connection emits, faye-websocket style. */
export interface ConnectionEvents {
  message: [data: string | Buffer, isBinary: boolean];
  close: [event: CloseEvent];
  ping: [data: Buffer];
  pong: [data: Buffer];
  drain: [];
  error: [error: Error];
}

/** The part of a hub a connection uses (hub/hub.ts implements it). */
export interface TopicHub {
  add(connection: Connection<any>, topic: string): boolean;
  remove(connection: Connection<any>, topic: string): boolean;
  publish(topic: string, data: SendData, except?: Connection<any>): Promise<void>;
}

/** The part of an endpoint a connection calls back into. Implemented by endpoint/endpoint.ts. */
export interface ConnectionHost {
  /** Runs a user handler; a throw or rejection becomes `fail(connection, error)`. */
  dispatchMessage(connection: Connection<any, any, any>, data: string | Buffer, isBinary: boolean): void;
  dispatchControl(connection: Connection<any, any, any>, kind: 'ping' | 'pong' | 'drain', data?: Buffer): void;
  dispatchClose(connection: Connection<any, any, any>, event: CloseEvent): void;
  dispatchError(connection: Connection<any, any, any>, error: Error): void;
  /**
   * A listener added with `on()` returned a promise that rejected: treated like a failing
   * handler (1011, reported), or only reported for `close` and `error` listeners.
   */
  listenerRejected(connection: Connection<any, any, any>, event: keyof ConnectionEvents, error: unknown): void;
  readonly highWaterMark: number;
  readonly maxBufferedAmount: number;
  /** Largest message accepted after inflating. */
  readonly maxPayload: number;
  /** The hub behind `subscribe` and `publish`. */
  readonly hub: TopicHub;
  /**
   * True when a `ping` hook exists or `controlRate` counts pings. A RoutedWebSocket hands over
   * every ping anyway; a plain one is listened to for pings only then, or once `on('ping')` asks.
   */
  readonly wantsPings: boolean;
  /** The `controlRate` budget of each connection's pings and unsolicited pongs, when on. */
  readonly controlRate: Rate | undefined;
  /** With `idleTimeout`: the time (ms) a message marks as the connection's last activity. */
  readonly activityClock: number | undefined;
  /** The counters of `endpoint.stats()`, unless `stats: false`. */
  readonly counters: ConnectionCounters | undefined;
  /** A `for await` loop started: messages that waited for an async `open` go to it now. */
  startedIterating(connection: Connection<any, any, any>): void;
  /** Whether the connection on `ws` resumed a session (recovery/). */
  isRecovered(ws: Transport): boolean;
  /** The connection joined (or left) a topic: recovery replays what it missed, or forgets it. */
  subscribed(connection: Connection<any, any, any>, topic: string): void;
  unsubscribed(connection: Connection<any, any, any>, topic: string): void;
  /** A durable hub's entry for this connection: true when recovery or sender exclusion handled it. */
  deliverDurable(
    connection: Connection<any, any, any>,
    topic: string,
    entry: DurableEntry,
    cache: EnvelopeCache,
  ): boolean;
}

/** The counters a connection moves (endpoint/stats.ts implements them). */
export interface ConnectionCounters {
  messagesIn: number;
  bytesIn: number;
  messagesOut: number;
  bytesOut: number;
  rtt(ms: number): void;
}

/** A `ping()` waiting for its pong. */
interface PendingPing {
  payload: Buffer;
  sentAt: number;
  resolve(rtt: number): void;
  reject(error: Error): void;
}

/** The connection a socket (or the socket under it) belongs to. */
function connectionOf(emitter: object): Connection<any, any, any> {
  return (emitter as Record<symbol, Connection<any, any, any>>)[kConnection]!;
}

/** The transport under a connection (read-only; recovery keys its state by it). */
export function transportOf(connection: Connection<any, any, any>): Transport {
  return connection[kWs];
}

/** The connection's policy state: each endpoint policy reads and writes only its own part. */
export function policyOf(connection: Connection<any, any, any>): PolicyState {
  return connection[kPolicy];
}

/** Who started closing, for the close diagnostics channel. */
export function closedByOf(connection: Connection<any, any, any>): 'server' | 'client' {
  return connection[kClosedByServer] ? 'server' : 'client';
}

/**
 * One WebSocket connection. Handlers receive it as `ws`; faye-style code can also listen to
 * its events. Listeners on the underlying `ws` socket are shared functions, not per-connection
 * closures, so that an idle connection costs little memory.
 */
export class Connection<Context = unknown, Incoming = string | Buffer, Outgoing = never> implements FrameSink {
  /** The WebSocket is being opened (never seen by handlers). */
  static readonly CONNECTING = 0;
  /** Open: messages flow both ways. */
  static readonly OPEN = 1;
  /** A close frame was sent or received. */
  static readonly CLOSING = 2;
  /** Closed. */
  static readonly CLOSED = 3;

  /** What the `upgrade` hook returned as `context`. */
  context: Context;
  /** The handshake request: url, path, query, headers, origin, remoteAddress. */
  readonly request: RequestInfo;

  /** @internal */ [kWs]: Transport;
  /** @internal */ [kHost]: ConnectionHost;
  /** @internal What the endpoint's policies track for this connection (policy.ts). */
  [kPolicy]: PolicyState;
  // Rarely used state is declared, not initialised: a property is only added to the
  // connections that need it, which keeps an idle connection small.
  /** @internal */ declare [kPings]: PendingPing[] | undefined;
  /** @internal */ declare [kNeedDrain]: boolean | undefined;
  /** @internal */ declare [kTopics]: Set<string> | undefined;
  /** @internal */ declare [kSentCode]: number | undefined;
  /** @internal Listeners of faye-style code, created on the first `on()`. */
  declare [kEmitter]: EventEmitter | undefined;
  /** @internal The queue of a running `for await` loop. */
  declare [kQueue]: MessageQueue<any> | undefined;
  /** @internal True once this side started closing (for `closedBy`). */
  declare [kClosedByServer]: boolean | undefined;
  /** @internal `drain()` promises waiting for room. */
  declare [kDrainWaiters]: Array<() => void> | undefined;
  /** @internal On the SSE fallback: POSTs held while a loop is behind. */
  declare [kReadWaiters]: Array<() => void> | null | undefined;

  /** @internal Built by the endpoint, never by users. */
  constructor(ws: Transport, host: ConnectionHost, request: RequestInfo, context: Context) {
    this[kWs] = ws;
    this[kHost] = host;
    this.request = request;
    this.context = context;
    this[kPolicy] = new PolicyState(performance.now());
    attachSocket(this, ws, host.wantsPings);
  }

  /** 0 connecting, 1 open, 2 closing, 3 closed: the same numbers as the browser's WebSocket. */
  get readyState(): 0 | 1 | 2 | 3 {
    return this[kWs].readyState;
  }

  /** The negotiated subprotocol, or `''`. */
  get protocol(): string {
    return this[kWs].protocol;
  }

  /** `'websocket'`, or `'sse'` for a client that fell back to SSE + POST. */
  get transport(): 'websocket' | 'sse' {
    return (this[kWs] as { transport?: 'sse' }).transport ?? 'websocket';
  }

  /** The negotiated extensions, e.g. `'permessage-deflate'`, or `''`. */
  get extensions(): string {
    return this[kWs].extensions;
  }

  /** True when this connection resumed a session (endpoint `recovery`): what it missed is replayed. */
  get recovered(): boolean {
    return this[kHost].isRecovered(this[kWs]);
  }

  /** Bytes queued for sending but not yet handed to the operating system. */
  get bufferedAmount(): number {
    return this[kWs].bufferedAmount;
  }

  /**
   * Sends a message: a string as text, a Buffer, ArrayBuffer or typed array as binary, and
   * (with an `outgoing` schema) an object as JSON text. Returns false when the connection is
   * not open or its buffer passed the high-water mark; `drain` follows then.
   */
  send(data: SendData | Outgoing): boolean {
    const ws = this[kWs];
    if (ws.readyState !== 1) return false;
    const clock = this[kHost].activityClock;
    if (clock !== undefined) this[kPolicy].touch(clock);
    let payload = data as SendData;
    let binary = typeof data !== 'string';
    if (binary && !isBinaryData(data)) {
      payload = JSON.stringify(data);
      binary = false;
    }
    ws.send(payload, { binary });
    countOut(this, payload, binary);
    return checkBuffered(this);
  }

  /**
   * Resolves once the send buffer is at or below the high-water mark, or the connection
   * closed (then `readyState` says so). Never rejects.
   */
  drain(): Promise<void> {
    if (this[kWs].readyState > 1 || this[kWs].bufferedAmount <= this[kHost].highWaterMark) return Promise.resolve();
    return new Promise<void>((resolve) => {
      (this[kDrainWaiters] ??= []).push(resolve);
      armDrain(this);
    });
  }

  /** `send`, then `drain()`: resolves with false when the connection was not open, or closed meanwhile. */
  async sendAsync(data: SendData | Outgoing): Promise<boolean> {
    if (!this.send(data)) await this.drain();
    return this[kWs].readyState === 1;
  }

  /**
   * `for await (const { data, isBinary } of ws)`: the messages in order, ending when the
   * connection closes. While a loop runs, messages go to it instead of the `message` hook and
   * listeners; a loop that falls behind pauses reading from the client.
   */
  [Symbol.asyncIterator](): AsyncIterableIterator<QueuedMessage<Incoming>> {
    if (this[kQueue] !== undefined)
      throw withCode(new TypeError('This connection is already being iterated'), ErrorCode.ALREADY_ITERATING);
    const queue = new MessageQueue<Incoming>(new ReadControlOf(this), this[kHost].highWaterMark);
    this[kQueue] = queue;
    if (this[kWs].readyState > 1) queue.end();
    else this[kHost].startedIterating(this);
    return queue;
  }

  /** Subscribes to a topic of the endpoint's hub. Closing leaves every topic. */
  subscribe(topic: string): void {
    if (this[kWs].readyState > 1) return;
    const host = this[kHost];
    if (host.hub.add(this as Connection<any>, topic)) {
      (this[kTopics] ??= new Set()).add(topic);
      host.subscribed(this, topic); // replays what a resumed connection missed (recovery/)
    }
  }

  /** Leaves a topic. */
  unsubscribe(topic: string): void {
    const host = this[kHost];
    if (host.hub.remove(this as Connection<any>, topic)) {
      this[kTopics]!.delete(topic);
      host.unsubscribed(this, topic);
    }
  }

  /** The topics this connection is subscribed to. */
  get topics(): ReadonlySet<string> {
    return this[kTopics] ?? EMPTY_TOPICS;
  }

  /**
   * Sends to every subscriber of `topic` except this connection, on every node of the hub.
   * The promise only matters for distributed hubs; it never rejects unhandled.
   */
  publish(topic: string, data: SendData): Promise<void> {
    return this[kHost].hub.publish(topic, data, this as Connection<any>);
  }

  /**
   * @internal Writes a message a hub framed once for every subscriber (FrameSink): the shared
   * bytes where the transport can take them, `send` otherwise.
   */
  sendFrame(frame: Buffer, payload: string | Buffer, isBinary: boolean): boolean {
    const ws = this[kWs];
    if (ws.readyState !== 1) return false;
    const clock = this[kHost].activityClock;
    if (clock !== undefined) this[kPolicy].touch(clock);
    writeFrame(ws, frame, payload, isBinary);
    countOut(this, frame, isBinary, framedLength(frame));
    return checkBuffered(this);
  }

  /**
   * @internal A durable hub's entry (FrameSink): true when recovery or sender exclusion
   * handled it, false for a plain delivery through `sendFrame`.
   */
  deliverDurable(topic: string, entry: DurableEntry, cache: EnvelopeCache): boolean {
    return this[kHost].deliverDurable(this, topic, entry, cache);
  }

  /** Starts the closing handshake. The code defaults to 1000. */
  close(code: number = CloseCode.NORMAL, reason = ''): void {
    const ws = this[kWs];
    if (ws.readyState >= 2) return;
    this[kClosedByServer] = true;
    ws.close(code, reason);
  }

  /** Drops the connection at once, without a closing handshake. Handlers see 1006. */
  terminate(): void {
    if (this[kWs].readyState < 2) this[kClosedByServer] = true;
    this[kWs].terminate();
  }

  /** Adds a listener: `message`, `close`, `ping`, `pong`, `drain` or `error`. */
  on<E extends keyof ConnectionEvents>(event: E, listener: (...args: ConnectionEvents[E]) => void): this {
    listenFor(this, event);
    emitterOf(this).on(event, listener as (...args: unknown[]) => void);
    return this;
  }

  /** Same as {@link on}. */
  addListener<E extends keyof ConnectionEvents>(event: E, listener: (...args: ConnectionEvents[E]) => void): this {
    return this.on(event, listener);
  }

  /** Adds a listener that runs once. */
  once<E extends keyof ConnectionEvents>(event: E, listener: (...args: ConnectionEvents[E]) => void): this {
    listenFor(this, event);
    emitterOf(this).once(event, listener as (...args: unknown[]) => void);
    return this;
  }

  /** Removes a listener. */
  off<E extends keyof ConnectionEvents>(event: E, listener: (...args: ConnectionEvents[E]) => void): this {
    this[kEmitter]?.off(event, listener as (...args: unknown[]) => void);
    return this;
  }

  /** Same as {@link off}. */
  removeListener<E extends keyof ConnectionEvents>(event: E, listener: (...args: ConnectionEvents[E]) => void): this {
    return this.off(event, listener);
  }

  /** Removes every listener of `event`, or of every event. */
  removeAllListeners(event?: keyof ConnectionEvents): this {
    if (event === undefined) this[kEmitter]?.removeAllListeners();
    else this[kEmitter]?.removeAllListeners(event);
    return this;
  }

  /** How many listeners `event` has. */
  listenerCount(event: keyof ConnectionEvents): number {
    return this[kEmitter]?.listenerCount(event) ?? 0;
  }

  /** Calls the listeners of `event`; false when it has none. */
  emit<E extends keyof ConnectionEvents>(event: E, ...args: ConnectionEvents[E]): boolean {
    return this[kEmitter]?.emit(event, ...args) ?? false;
  }

  /**
   * Sends a ping and resolves with the round-trip time in milliseconds. Rejects if the
   * connection closes first; that rejection never goes unhandled, so a forgotten `await` can't
   * crash the process when a client leaves.
   */
  ping(data?: string | Buffer): Promise<number> {
    const ws = this[kWs];
    let promise: Promise<number>;
    if (ws.readyState !== 1) {
      promise = Promise.reject(withCode(new Error('WebSocket is not open'), ErrorCode.NOT_OPEN));
    } else {
      const pings = (this[kPings] ??= []);
      const payload =
        data === undefined ? Buffer.from(`sy${performance.now().toFixed(3)}:${pings.length}`) : Buffer.from(data);
      promise =
        payload.length > 125
          ? Promise.reject(withCode(new RangeError('ping data must be at most 125 bytes'), ErrorCode.PING_TOO_LONG))
          : new Promise<number>((resolve, reject) => {
              pings.push({ payload, sentAt: performance.now(), resolve, reject });
              ws.ping(payload);
            });
    }
    promise.catch(ignore);
    return promise;
  }
}

const EMPTY_TOPICS: ReadonlySet<string> = new Set();

function ignore(): void {}

/**
 * Hands a message to the connection's running `for await` loop: false when none runs (the
 * hooks and listeners get it then).
 */
export function deliverToLoop(
  connection: Connection<any, any, any>,
  data: string | Buffer,
  isBinary: boolean,
): boolean {
  const queue = connection[kQueue];
  if (queue === undefined) return false;
  queue.push(data, isBinary, typeof data === 'string' || Buffer.isBuffer(data) ? sizeOf(data) : 0);
  return true;
}

// The socket's events ----------------------------------------------------------------------

/** Points the socket back at its connection and, unless it routes its events itself, listens to it. */
function attachSocket(connection: Connection<any, any, any>, ws: Transport, wantsPings: boolean): void {
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
 * what ws does for its own receiver errors (internals/ws.ts).
 */
function failConnection(connection: Connection<any, any, any>, code: number): void {
  const ws = connection[kWs];
  connection[kSentCode] = code;
  connection[kClosedByServer] = true;
  if (ws.readyState !== 1) return;
  failWebSocket(ws, code);
}

function onWsMessage(this: Transport, data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean): void {
  const connection = connectionOf(this);
  const buffer = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
  if (connection[kSentCode] !== undefined) return;
  const host = connection[kHost];
  if (buffer.length > host.maxPayload) {
    // Only reachable with compression, where ws's own limit allows for deflate's overhead.
    failConnection(connection, CloseCode.MESSAGE_TOO_BIG);
    return;
  }
  const payload = isBinary ? buffer : buffer.toString();
  const counters = host.counters;
  if (counters !== undefined) {
    counters.messagesIn++;
    counters.bytesIn += buffer.length;
  }
  if (channels.messageIn.hasSubscribers) {
    channels.messageIn.publish({ connection, size: buffer.length, isBinary });
  }
  const policy = connection[kPolicy];
  const clock = host.activityClock;
  if (clock !== undefined) policy.touch(clock);
  const pending = policy.pending;
  if (pending) pending.push([payload, isBinary]);
  else host.dispatchMessage(connection, payload, isBinary);
}

function onWsClose(this: Transport, code: number, reason: Buffer): void {
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

function onWsError(this: Transport, error: Error): void {
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
  if (connection[kPolicy].takeControl(rate, performance.now())) return true;
  publishLimit('controlRate', 'closed', connection, undefined, undefined, CloseCode.POLICY_VIOLATION);
  failConnection(connection, CloseCode.POLICY_VIOLATION);
  return false;
}

function onWsPing(this: Transport, data: Buffer): void {
  const connection = connectionOf(this);
  // After a close this side sent, a ping gets no pong (ws answers only while open) and no hook.
  if (connection[kSentCode] !== undefined || !withinControlRate(connection)) return;
  connection[kHost].dispatchControl(connection, 'ping', data);
}

function onWsPong(this: Transport, data: Buffer): void {
  const connection = connectionOf(this);
  if (connection[kSentCode] !== undefined) return;
  const counters = connection[kHost].counters;
  const policy = connection[kPolicy];
  // A pong answering this side's ping is paced by this side; only unsolicited ones are counted.
  let solicited = policy.pongArrived();
  // The heartbeat's pings carry no payload and are timed to the millisecond they were sent at.
  if (solicited && data.length === 0) counters?.rtt(performance.now() - policy.lastPingAt);
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

routeWsEvents(
  { message: onWsMessage, close: onWsClose, error: onWsError, ping: onWsPing, pong: onWsPong },
  kConnection,
);

// Sending ----------------------------------------------------------------------------------

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
  channels.backpressure.publish({ connection, state, bufferedAmount, highWaterMark: connection[kHost].highWaterMark });
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
  if (observed) channels.messageOut.publish({ connection, size, isBinary });
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

function settleDrainWaiters(connection: Connection<any, any, any>): void {
  const waiters = connection[kDrainWaiters];
  if (!waiters) return;
  connection[kDrainWaiters] = undefined;
  for (const waiter of waiters) waiter();
}

// Faye-style listeners ---------------------------------------------------------------------

/** The connection's emitter, created on first use. */
function emitterOf(connection: Connection<any, any, any>): EventEmitter {
  return (connection[kEmitter] ??= new ListenerEmitter(connection));
}

/**
 * The listeners of faye-style code. `ws.on('message', async () => { ... })` returns a promise
 * that EventEmitter would drop, so a rejection would be unhandled and, on Node's defaults, end
 * the process. EventEmitter's captureRejections hands each rejection to the method below
 * instead, which treats it like a failing handler.
 */
class ListenerEmitter extends EventEmitter {
  readonly #connection: Connection<any, any, any>;

  constructor(connection: Connection<any, any, any>) {
    super({ captureRejections: true });
    this.#connection = connection;
  }

  [Symbol.for('nodejs.rejection')](error: unknown, event: string | symbol): void {
    const connection = this.#connection;
    connection[kHost].listenerRejected(connection, event as keyof ConnectionEvents, error);
  }
}

/**
 * Prepares for a listener: a `close` listener will want the peer's address after the socket is
 * gone, and the fallback's stand-in socket is listened to for pings only on demand.
 */
function listenFor(connection: Connection<any, any, any>, event: keyof ConnectionEvents): void {
  if (event === 'close') {
    void connection.request.remoteAddress;
    return;
  }
  const ws = connection[kWs];
  if (event === 'ping' && !isRouted(ws) && !connection[kHost].wantsPings && ws.listenerCount('ping') === 0) {
    ws.on('ping', onWsPing);
  }
}

// `for await` reading ----------------------------------------------------------------------

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

// Topics -----------------------------------------------------------------------------------

/** On close: the hub forgets the connection in every topic. */
function leaveTopics(connection: Connection<any, any, any>): void {
  const topics = connection[kTopics];
  if (topics) {
    const { hub } = connection[kHost];
    for (const topic of topics) hub.remove(connection as Connection<any>, topic);
    connection[kTopics] = undefined;
  }
}
