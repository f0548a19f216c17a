import { EventEmitter } from 'node:events';
import { ErrorCode, withCode } from './errors.js';
import { CloseCode } from './protocol.js';
import { channels, publishLimit, sizeOf } from './diagnostics.js';
import type { BackpressureMessage, CloseMessage, MessageMessage } from './diagnostics.js';
import type { Hub } from './hub.js';
import { isRecovered, subscribed, unsubscribed } from './recovery/index.js';
import { MessageQueue } from './iteration.js';
import type { IncomingMessage as QueuedMessage } from './iteration.js';
import type { TokenBucket } from './limits.js';
import type { RequestInfo } from './request.js';
import type { FrameSink, Transport } from './transport.js';
import { drainSource, failWebSocket, isRouted, pauseReading, routeWsEvents, writeFrame } from './transport-ws.js';

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

/** The part of an endpoint a connection calls back into. Implemented by `endpoint.ts`. */
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
  readonly hub: Hub;
  /**
   * True when a `ping` hook exists. A RoutedWebSocket hands over every ping anyway; the SSE
   * stand-in is listened to for pings only then, or once `on('ping')` asks.
   */
  readonly wantsPings: boolean;
  /** With `idleTimeout`: the time (ms) a message marks as the connection's last activity. */
  readonly activityClock: number | undefined;
  /** The counters of `endpoint.stats()`, unless `stats: false`. */
  readonly counters: import('./stats.js').EndpointStats | undefined;
  /** A `for await` loop started: messages that waited for an async `open` go to it now. */
  startedIterating(connection: Connection<any, any, any>): void;
}

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
export const kActive = Symbol('switchyard.active');
export const kExpiresAt = Symbol('switchyard.expiresAt');
export const kQueue = Symbol('switchyard.queue');
export const kClosedByServer = Symbol('switchyard.closedByServer');
const kDrainWaiters = Symbol('switchyard.drainWaiters');
const kReadWaiters = Symbol('switchyard.readWaiters');
const kEmitter = Symbol('switchyard.emitter');
/** The close code switchyard sent because the peer broke the protocol (ws stops reading after it). */
const kSentCode = Symbol('switchyard.sentCode');

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
const kConnection = Symbol('switchyard.connection');

interface PendingPing { payload: Buffer; sentAt: number; resolve(rtt: number): void; reject(error: Error): void }

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
  /** @internal Messages that arrived while an async `open` ran; `null` once open settled. */
  declare [kPending]: Array<[string | Buffer, boolean]> | null | undefined;
  // Rarely used state is declared, not initialised: a property is only added to the
  // connections that need it, which keeps an idle connection small.
  /** @internal */ declare [kPings]: PendingPing[] | undefined;
  /** @internal */ declare [kNeedDrain]: boolean | undefined;
  /** @internal */ [kLastPingAt]: number;
  /** @internal */ [kAwaitingPong] = false;
  /** @internal */ declare [kOnClosed]: Array<() => void> | undefined;
  /** @internal */ declare [kTopics]: Set<string> | undefined;
  /** @internal */ declare [kSentCode]: number | undefined;
  /** @internal Set only on endpoints with `rateLimit`. */
  declare [kMessageBucket]: TokenBucket | undefined;
  /** @internal */ declare [kByteBucket]: TokenBucket | undefined;
  /** @internal Last message either way (ms), only with `idleTimeout`. */
  declare [kActive]: number | undefined;
  /** @internal When the connection must end (performance.now() time). */
  declare [kExpiresAt]: number | undefined;
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
    // Whole milliseconds stay a small integer, stored in the object instead of a boxed double.
    this[kLastPingAt] = Math.floor(performance.now());
    (ws as unknown as Record<symbol, unknown>)[kConnection] = this;
    // A RoutedWebSocket hands its events over itself; anything else (the SSE fallback's
    // stand-in) gets the same shared functions as listeners.
    if (isRouted(ws)) return;
    ws.on('message', onWsMessage);
    ws.on('close', onWsClose);
    ws.on('error', onWsError);
    if (host.wantsPings) ws.on('ping', onWsPing);
    ws.on('pong', onWsPong);
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
    return isRecovered(this[kWs]); // issue-19
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
    const host = this[kHost];
    const clock = host.activityClock;
    if (clock !== undefined) this[kActive] = clock;
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
    if (this[kQueue] !== undefined) throw withCode(new TypeError('This connection is already being iterated'), ErrorCode.ALREADY_ITERATING);
    const queue = new MessageQueue<Incoming>(new ReadControlOf(this), this[kHost].highWaterMark);
    this[kQueue] = queue;
    if (this[kWs].readyState > 1) queue.end();
    else this[kHost].startedIterating(this);
    return queue;
  }

  /** Subscribes to a topic of the endpoint's hub. Closing leaves every topic. */
  subscribe(topic: string): void {
    if (this[kWs].readyState > 1) return;
    if (this[kHost].hub.add(this as Connection<any>, topic)) {
      (this[kTopics] ??= new Set()).add(topic);
      subscribed(this, topic); // issue-19: replay what a resumed connection missed
    }
  }

  /** Leaves a topic. */
  unsubscribe(topic: string): void {
    if (this[kHost].hub.remove(this as Connection<any>, topic)) {
      this[kTopics]!.delete(topic);
      unsubscribed(this, topic); // issue-19
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
    if (clock !== undefined) this[kActive] = clock;
    writeFrame(ws, frame, payload, isBinary);
    countOut(this, frame, isBinary, framedLength(frame));
    return checkBuffered(this);
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
    (this[kEmitter] ??= new ListenerEmitter(this)).on(event, listener as (...args: unknown[]) => void);
    return this;
  }

  /** Same as {@link on}. */
  addListener<E extends keyof ConnectionEvents>(event: E, listener: (...args: ConnectionEvents[E]) => void): this {
    return this.on(event, listener);
  }

  /** Adds a listener that runs once. */
  once<E extends keyof ConnectionEvents>(event: E, listener: (...args: ConnectionEvents[E]) => void): this {
    listenFor(this, event);
    (this[kEmitter] ??= new ListenerEmitter(this)).once(event, listener as (...args: unknown[]) => void);
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
      const payload = data === undefined
        ? Buffer.from(`sy${performance.now().toFixed(3)}:${pings.length}`)
        : Buffer.from(data);
      promise = payload.length > 125
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

function ignore(): void {}

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
    if (channels.limit.hasSubscribers) publishLimit('maxBufferedAmount', 'closed', connection, undefined, undefined, CloseCode.POLICY_VIOLATION);
    connection.close(CloseCode.POLICY_VIOLATION, 'Slow consumer: too much data buffered');
    return false;
  }
  if (!connection[kNeedDrain] && channels.backpressure.hasSubscribers) publishBackpressure(connection, 'full', buffered);
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

function publishBackpressure(connection: Connection<any, any, any>, state: 'full' | 'drained', bufferedAmount: number): void {
  const message: BackpressureMessage = { connection, state, bufferedAmount, highWaterMark: connection[kHost].highWaterMark };
  channels.backpressure.publish(message);
}

/** True for what `send` sends as binary as it is; anything else that is not a string is JSON. */
function isBinaryData(data: unknown): boolean {
  return Buffer.isBuffer(data) || ArrayBuffer.isView(data) || data instanceof ArrayBuffer || data instanceof SharedArrayBuffer;
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

function connectionOf(emitter: object): Connection<any, any, any> {
  return (emitter as Record<symbol, Connection<any, any, any>>)[kConnection]!;
}

function onWsMessage(this: Transport, data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean): void {
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

function onWsClose(this: Transport, code: number, reason: Buffer): void {
  const connection = connectionOf(this);
  const topics = connection[kTopics];
  if (topics) {
    const { hub } = connection[kHost];
    for (const topic of topics) hub.remove(connection as Connection<any>, topic);
    connection[kTopics] = undefined;
  }
  const pings = connection[kPings];
  if (pings) {
    for (const ping of pings) ping.reject(withCode(new Error(`WebSocket closed (${code}) before the pong`), ErrorCode.CLOSED_BEFORE_PONG));
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
  if ((error as Error & { code?: string }).code?.startsWith('WS_ERR_')) connection[kSentCode] = closeCodeForError(error);
  connection[kHost].dispatchError(connection, error);
}

function onWsPing(this: Transport, data: Buffer): void {
  const connection = connectionOf(this);
  connection[kHost].dispatchControl(connection, 'ping', data);
}

function onWsPong(this: Transport, data: Buffer): void {
  const connection = connectionOf(this);
  const counters = connection[kHost].counters;
  // The heartbeat's pings carry no payload and are timed to the millisecond they were sent at.
  if (connection[kAwaitingPong] && data.length === 0) counters?.rtt(performance.now() - connection[kLastPingAt]);
  connection[kAwaitingPong] = false;
  const pings = connection[kPings];
  if (pings) {
    const index = pings.findIndex((ping) => ping.payload.equals(data));
    if (index !== -1) {
      const [ping] = pings.splice(index, 1);
      const rtt = performance.now() - ping!.sentAt;
      counters?.rtt(rtt);
      ping!.resolve(rtt);
    }
  }
  connection[kHost].dispatchControl(connection, 'pong', data);
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

/** Builds the `closedBy` of a close event for the diagnostics channel. */
export function closeMessage(connection: Connection<any, any, any>, event: CloseEvent): CloseMessage {
  return { connection, code: event.code, reason: event.reason, wasClean: event.wasClean, closedBy: connection[kClosedByServer] ? 'server' : 'client' };
}

routeWsEvents({ message: onWsMessage, close: onWsClose, error: onWsError, ping: onWsPing, pong: onWsPong }, kConnection);
