/**
 * The ws transport, and every use of ws's private members. Each is checked once, as core
 * loads, on objects of ws's own classes; when one is missing, the public API does the job:
 *
 * - `WebSocket.prototype.setSocket` and `_receiver`: RoutedWebSocket hands events over without
 *   listeners, and once closing ends each stream once (endOnce). Fallback: a plain WebSocket,
 *   listened to.
 * - `_sender._state`, `_sender._queue`, `_extensions`, `_socket`: a hub's shared frame goes
 *   straight to the socket when ws has nothing of its own in flight. Fallback: `ws.send`.
 * - `_closeFrameReceived`: failing a connection (RFC 6455 §7.1.7) ends TCP once the close frame
 *   is out. Fallback: `ws.close(code)`, which waits for the peer's answer (ws's close timeout).
 * - `_socket` as the source of 'drain'. Fallback: a poll of `bufferedAmount`.
 * - `Sender.frame` (exported at run time, undeclared by @types/ws): the one frame a hub builds
 *   for all subscribers, with ws's own framer. Fallback: frameHeader() below, RFC 6455 §5.2.
 */
import { Buffer } from 'node:buffer';
import type { EventEmitter } from 'node:events';
import { Duplex } from 'node:stream';
import type { Writable } from 'node:stream';
import * as wsModule from 'ws';
import { WebSocket } from 'ws';
import { compactListeners, hasNoListeners } from './node.js';

/** What the load-time check found of ws's private members. */
export interface WsInternals {
  /** `setSocket` and `_receiver`: events handed over without listeners, streams ended once. */
  readonly routed: boolean;
  /** `_sender._state`/`_queue`, `_extensions` and `_socket`: shared frames written directly. */
  readonly frames: boolean;
  /** `_closeFrameReceived`: a failed connection ends without waiting for the peer. */
  readonly failFast: boolean;
}

interface WsPrivate {
  _socket: (EventEmitter & { write(chunk: Buffer): boolean }) | null;
  _sender: { _state: number; _queue: unknown[] } | null;
  _extensions: Record<string, unknown>;
  _receiver: object | null;
  _closeFrameReceived: boolean;
}

class NullSocket extends Duplex {
  override _read(): void {}
  override _write(_chunk: unknown, _encoding: unknown, callback: () => void): void {
    callback();
  }
}

function detect(): WsInternals {
  try {
    // A server-side WebSocket before its socket is set: ws initialises every member here.
    const ws = new WebSocket(null as unknown as string, undefined, {}) as unknown as WsPrivate;
    // ws exports its Sender class; @types/ws leaves it out.
    const Sender = (wsModule as unknown as { Sender: new (socket: Duplex) => { _state?: unknown; _queue?: unknown } })
      .Sender;
    const sender = new Sender(new NullSocket());
    const routed =
      typeof (WebSocket.prototype as unknown as { setSocket?: unknown }).setSocket === 'function' && '_receiver' in ws;
    const frames =
      sender._state === 0 &&
      Array.isArray(sender._queue) &&
      '_sender' in ws &&
      '_socket' in ws &&
      typeof ws._extensions === 'object' &&
      ws._extensions !== null;
    return { routed, frames, failFast: ws._closeFrameReceived === false };
  } catch {
    return { routed: false, frames: false, failFast: false };
  }
}

/** What the check found when core loaded. */
export const wsInternals: WsInternals = Object.freeze(detect());

interface FrameOptions {
  fin: boolean;
  mask: boolean;
  opcode: number;
  readOnly: boolean;
  rsv1: boolean;
}
type Framer = (data: Buffer, options: FrameOptions) => Buffer[];

/**
 * ws's framer, `Sender.frame`, if it is there and frames as RFC 6455 says: checked once, on a
 * short and a 16-bit-length message, against frameHeader().
 */
/** ws's Sender class; its static `frame` is looked up at each call, as ws itself does. */
const WsSender = (wsModule as unknown as { Sender?: { frame?: unknown } }).Sender;

function detectFramer(): Framer | undefined {
  try {
    const frame = WsSender?.frame;
    if (typeof frame !== 'function') return undefined;
    const framer = frame as Framer;
    for (const length of [1, 200]) {
      const payload = Buffer.alloc(length, 0x61);
      const parts = framer(payload, { fin: true, mask: false, opcode: 1, readOnly: true, rsv1: false });
      const bytes = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
      if (!bytes.equals(Buffer.concat([frameHeader(length, false), payload]))) return undefined;
    }
    return framer;
  } catch {
    return undefined;
  }
}

/** ws's framer when the load-time check found it; undefined: frameHeader() frames instead. */
export const wsFramer: Framer | undefined = detectFramer();

/**
 * The header of an unmasked, uncompressed, final server frame (RFC 6455 §5.2): FIN and the
 * opcode, then the payload length in 7, 16 or 64 bits. The public fallback for ws's framer.
 */
export function frameHeader(length: number, isBinary: boolean): Buffer {
  const first = 0x80 | (isBinary ? 2 : 1);
  if (length < 126) return Buffer.from([first, length]);
  if (length < 65536) {
    const header = Buffer.allocUnsafe(4);
    header[0] = first;
    header[1] = 126;
    header.writeUInt16BE(length, 2);
    return header;
  }
  const header = Buffer.allocUnsafe(10);
  header[0] = first;
  header[1] = 127;
  header.writeBigUInt64BE(BigInt(length), 2);
  return header;
}

/**
 * One complete, unmasked, uncompressed server frame for a whole message: what a hub writes to
 * every subscriber's socket. Built with ws's own framer, so the bytes are exactly the ones
 * `ws.send` would produce, or by frameHeader() when that framer is missing (`framer` chooses,
 * for tests).
 */
export function frameMessage(
  payload: string | Buffer,
  isBinary: boolean,
  framer: Framer | undefined = wsFramer && (WsSender!.frame as Framer),
): Buffer {
  const data = typeof payload === 'string' ? Buffer.from(payload) : payload;
  if (framer === undefined) return Buffer.concat([frameHeader(data.length, isBinary), data]);
  const parts = framer(data, { fin: true, mask: false, opcode: isBinary ? 2 : 1, readOnly: true, rsv1: false });
  return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
}

/** Where RoutedWebSocket hands its events: set once by connection.ts. */
export interface WsEventSink {
  message(this: WebSocket, data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean): void;
  close(this: WebSocket, code: number, reason: Buffer): void;
  error(this: WebSocket, error: Error): void;
  ping(this: WebSocket, data: Buffer): void;
  pong(this: WebSocket, data: Buffer): void;
}

let sink: WsEventSink | undefined;
/** The key under which a WebSocket knows its owner; a RoutedWebSocket hands events only then. */
let ownerKey: symbol | undefined;

/** Connects RoutedWebSocket to the Connection module, which owns what events do. */
export function routeWsEvents(events: WsEventSink, key: symbol): void {
  sink = events;
  ownerKey = key;
}

/**
 * ws's WebSocket, with its events handed straight to the connection instead of through five
 * listeners per socket: an idle connection is smaller, and a handshake adds no listeners.
 * Listeners added to it directly still run.
 */
export class RoutedWebSocket extends WebSocket {
  constructor(...args: ConstructorParameters<typeof WebSocket>) {
    super(...args);
    // Its events are routed, so its listener table stays empty: a compact one, not a dictionary.
    compactListeners(this);
  }

  /**
   * @internal Every close of a connection ws runs passes here: the app's or switchyard's own,
   * and ws's answer to a close frame or a receiver error. From now on the Receiver and the
   * socket end once each; see {@link endOnce}.
   */
  override close(code?: number, data?: string | Buffer): void {
    const { _receiver: receiver, _socket: socket } = this as unknown as WsPrivate;
    if (receiver) endingOnce(receiver);
    if (socket) endingOnce(socket);
    super.close(code, data);
  }

  override emit(event: string | symbol, a?: unknown, b?: unknown): boolean {
    const owned = (this as unknown as Record<symbol, unknown>)[ownerKey!] !== undefined;
    if (owned) {
      switch (event) {
        case 'message':
          sink!.message.call(this, a as Buffer, b as boolean);
          break;
        case 'close':
          sink!.close.call(this, a as number, b as Buffer);
          break;
        case 'error':
          sink!.error.call(this, a as Error);
          // Handled: an 'error' without listeners must not throw out of ws.
          if (this.listenerCount('error') === 0) return true;
          break;
        case 'ping':
          sink!.ping.call(this, a as Buffer);
          break;
        case 'pong':
          sink!.pong.call(this, a as Buffer);
          break;
      }
    }
    if (hasNoListeners(this)) return owned;
    return super.emit(event, a, b);
  }
}

/** The WebSocket class an endpoint's ws server builds: routed when ws's members were found. */
export const ServerWebSocket = (wsInternals.routed ? RoutedWebSocket : WebSocket) as typeof WebSocket;

/** True when events of `ws` reach the connection without listeners. */
export function isRouted(ws: object): boolean {
  return wsInternals.routed && ws instanceof RoutedWebSocket;
}

/**
 * `end()` for ws's Receiver and the socket, which ws ends more than once as a connection closes
 * (the Receiver on the close frame, on the socket's 'end' and on its 'close'; the socket after
 * its close frame and on 'end'). For each call after the first, Node's Writable.end builds an
 * ERR_STREAM_ALREADY_FINISHED or ERR_STREAM_DESTROYED that nobody sees: three stack traces per
 * connection, about a tenth of a handshake's CPU. A repeated end() without arguments does
 * nothing else, and neither does one on a destroyed stream (a Receiver that failed on a
 * protocol error was never ended, so every end() would build an error); here they do nothing
 * at all. Any other call is the stream's own end().
 */
function endOnce(this: Writable, ...args: unknown[]): Writable {
  if (args.length === 0 && (this.writableEnded || this.destroyed)) return this;
  return (Object.getPrototypeOf(this) as { end(...args: unknown[]): Writable }).end.apply(this, args);
}

/**
 * Gives a closing stream endOnce, as an own property set only once its connection closes. An
 * open connection's socket and Receiver stay exactly what Node and ws made them: swapping their
 * prototypes at the handshake cost every message, about a fifth of a 16 KiB echo's instructions
 * (callgrind), with old-space collections for external memory pressure in --trace-gc.
 */
function endingOnce(stream: object): void {
  const own = stream as { end?: unknown };
  if (Object.hasOwn(own, 'end')) return;
  Object.defineProperty(own, 'end', { value: endOnce, writable: true, configurable: true });
}

/**
 * Writes a frame built once by a hub. The shared bytes go straight to the socket only when ws
 * has nothing of its own in flight for it (no queued or compressing send, no
 * permessage-deflate), so order is kept; otherwise, and on any other transport, `send`.
 */
export function writeFrame(
  transport: { send(data: string | Buffer, options: { binary: boolean }): void },
  frame: Buffer,
  payload: string | Buffer,
  isBinary: boolean,
): void {
  if (wsInternals.frames && transport instanceof WebSocket) {
    const ws = transport as unknown as WsPrivate;
    const sender = ws._sender!;
    if (sender._state === 0 && sender._queue.length === 0 && ws._extensions['permessage-deflate'] === undefined) {
      ws._socket!.write(frame);
      return;
    }
  }
  transport.send(payload, { binary: isBinary });
}

/**
 * RFC 6455 §7.1.7 "Fail the WebSocket Connection": one close frame, then the TCP connection
 * ends without waiting for the peer's answer. This is what ws does for its own receiver errors;
 * marking the close frame as received makes ws end the socket as soon as its close frame is out.
 */
export function failWebSocket(transport: { close(code?: number): void }, code: number): void {
  if (wsInternals.failFast && transport instanceof WebSocket)
    (transport as unknown as WsPrivate)._closeFrameReceived = true;
  transport.close(code);
}

/**
 * What emits 'drain' for a transport: a WebSocket's TCP socket, or the transport itself (the
 * SSE session). Undefined when ws's socket can't be reached.
 */
export function drainSource(transport: EventEmitter): EventEmitter | undefined {
  if (!(transport instanceof WebSocket)) return transport;
  return wsInternals.frames ? ((transport as unknown as WsPrivate)._socket ?? undefined) : undefined;
}

/**
 * Runs `write` with a WebSocket's TCP socket corked until the current tick's promise jobs are
 * done (`cork()`, then `uncork()` on `process.nextTick`), so that the frames written meanwhile
 * leave in one system call instead of one each: a resume's replay page, its position, the entries
 * held behind it and the session frame that follows. Another transport (the SSE session writes
 * to its response), or a ws whose socket can't be reached, just writes.
 */
export function corkWrites(transport: object, write: () => void): void {
  const socket =
    transport instanceof WebSocket && wsInternals.frames ? (transport as unknown as WsPrivate)._socket : undefined;
  const cork = socket as { cork?(): void; uncork?(): void } | null | undefined;
  if (typeof cork?.cork !== 'function' || typeof cork.uncork !== 'function') return write();
  cork.cork();
  try {
    write();
  } finally {
    process.nextTick(() => cork.uncork!());
  }
}

/** Stops or restarts reading from the peer: only a WebSocket can (the SSE session holds POSTs). */
export function pauseReading(transport: object, paused: boolean): boolean {
  if (!(transport instanceof WebSocket)) return false;
  if (paused) transport.pause();
  else transport.resume();
  return true;
}
