/**
 * The public `Connection` class: what handlers receive as `ws`. Its state lives under the symbol
 * keys of connection-keys.ts; the work is done by its sibling modules (sending and backpressure,
 * socket events and the close paths, listeners, `for await` reading, pings).
 */
import { CloseCode } from '../protocol.js';
import { isRecovered } from '../recovery/index.js';
import type { IncomingMessage as QueuedMessage, MessageQueue } from './iteration.js';
import type { TokenBucket } from '../limits.js';
import type { RequestInfo } from '../handshake/request.js';
import type { FrameSink, Transport } from './transport.js';
import type { EventEmitter } from 'node:events';
import type { ConnectionEvents, ConnectionHost, SendData } from './types.js';
import {
  kActive,
  kAwaitingPong,
  kByteBucket,
  kClosedByServer,
  kControlBucket,
  kDrainWaiters,
  kEmitter,
  kExpiresAt,
  kHost,
  kLastPingAt,
  kMessageBucket,
  kNeedDrain,
  kOnClosed,
  kPending,
  kPings,
  kQueue,
  kReadWaiters,
  kSentCode,
  kTopics,
  kWs,
  type PendingPing,
} from './symbols.js';
import { attachSocket } from './events.js';
import { emitterOf, listenFor } from './listeners.js';
import { sendData, sendSharedFrame, whenDrained } from './send.js';
import { iterate } from './reading.js';
import { sendPing } from './pings.js';
import { subscribe, topicsOf, unsubscribe } from './topics.js';

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
  /** @internal Made on the first control frame the peer sends, with `controlRate`. */
  declare [kControlBucket]: TokenBucket | undefined;
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
    return isRecovered(this[kWs]);
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
    return sendData(this, data);
  }

  /**
   * Resolves once the send buffer is at or below the high-water mark, or the connection
   * closed (then `readyState` says so). Never rejects.
   */
  drain(): Promise<void> {
    return whenDrained(this);
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
    return iterate(this);
  }

  /** Subscribes to a topic of the endpoint's hub. Closing leaves every topic. */
  subscribe(topic: string): void {
    subscribe(this, topic);
  }

  /** Leaves a topic. */
  unsubscribe(topic: string): void {
    unsubscribe(this, topic);
  }

  /** The topics this connection is subscribed to. */
  get topics(): ReadonlySet<string> {
    return topicsOf(this);
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
    return sendSharedFrame(this, frame, payload, isBinary);
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
    return sendPing(this, data);
  }
}
