/**
 * Every private Node API switchyard touches, in one place, each detected once at load.
 *
 * - The internal route: marking an upgrade request through the `http.server.request.start`
 *   diagnostics channel before its 'request' listeners run, and asking the HTTP parser
 *   (`kOnExecute`) to run its upgrade step for a request marked late (see handshake/hijack.ts). Detected
 *   by opening a connection on a server that never listens and reading its parser.
 * - The listener store (`_events`, `_eventsCount`): one read per handshake instead of copies
 *   of six listener arrays. Detected on an EventEmitter of our own.
 * - The response a socket is serving (`socket._httpMessage`), which keeps pipelined answers in
 *   order. Detected on that same probe connection.
 *
 * When a detection fails, or `SWITCHYARD_INTERNALS=0` is set when core loads, switchyard uses
 * public APIs instead: upgrades arrive through the server's 'upgrade' event (`routeUpgrades`)
 * and listeners are read with `rawListeners()`. `_httpMessage` stays in use with
 * `SWITCHYARD_INTERNALS=0`; without it (a failed detection), a socket's own response is taken
 * as the only one and an upgrade pipelined behind an unfinished answer is dropped. A failed
 * detection says so once, as a `SWITCHYARD_PUBLIC_ROUTE` process warning (docs/errors.md).
 */
import { EventEmitter } from 'node:events';
import { subscribe } from 'node:diagnostics_channel';
import { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { keepTickShape } from './tick-shape.js';

/** What the load-time detection found, and whether the internal route is used. */
export interface InternalRoute {
  /** True when upgrades are marked through the diagnostics channel and the parser. */
  readonly enabled: boolean;
  /** Why the internal route is off: `'env'` (`SWITCHYARD_INTERNALS=0`), `'detection'`, or `undefined`. */
  readonly disabledBy: 'env' | 'detection' | undefined;
  /** The HTTP parser of a connection has `kOnExecute`, `getCurrentBuffer()` and `incoming`. */
  readonly parser: boolean;
  /** EventEmitter keeps listeners in `_events`, counted by `_eventsCount`. */
  readonly listenerStore: boolean;
  /** A socket names the response it serves in `_httpMessage`. */
  readonly responseSocket: boolean;
  /** The names of the detections that failed. */
  readonly missing: readonly string[];
}

type HttpParser = { incoming?: unknown; getCurrentBuffer(): Buffer } & Record<
  number,
  ((ret: number) => void) | undefined
>;

/** A socket that goes nowhere: enough for Node's HTTP server to set a connection up on. */
class ProbeSocket extends Duplex {
  override _read(): void {}
  override _write(_chunk: unknown, _encoding: unknown, callback: () => void): void {
    callback();
  }
  setNoDelay(): this {
    return this;
  }
  setKeepAlive(): this {
    return this;
  }
  setTimeout(): this {
    return this;
  }
}

function probeListenerStore(): boolean {
  const emitter = new EventEmitter();
  const listener = (): void => {};
  emitter.on('probe', listener);
  const store = emitter as unknown as { _events?: Record<string, unknown>; _eventsCount?: unknown };
  return store._events?.probe === listener && store._eventsCount === 1;
}

/** Opens a connection on a server that never listens, reads its parser, and closes it again. */
function probeConnection(): { parser: boolean; responseSocket: boolean } {
  const server = new Server();
  const socket = new ProbeSocket();
  try {
    server.emit('connection', socket);
    const parser = (socket as unknown as { parser?: HttpParser | null }).parser;
    const kOnExecute = (parser?.constructor as { kOnExecute?: unknown } | undefined)?.kOnExecute;
    const parserOk =
      parser != null &&
      typeof kOnExecute === 'number' &&
      typeof parser[kOnExecute] === 'function' &&
      typeof parser.getCurrentBuffer === 'function' &&
      'incoming' in parser;
    // Node names the response a socket serves in `_httpMessage`, from assignSocket() to detachSocket().
    const res = new ServerResponse(new IncomingMessage(socket as unknown as Socket));
    const served = (): unknown => (socket as unknown as { _httpMessage?: unknown })._httpMessage;
    res.assignSocket(socket as unknown as Socket);
    const assigned = served() === res;
    res.detachSocket(socket as unknown as Socket);
    return { parser: parserOk, responseSocket: assigned && served() === null };
  } catch {
    return { parser: false, responseSocket: false };
  } finally {
    socket.destroy();
  }
}

function detect(): InternalRoute {
  const { parser, responseSocket } = probeConnection();
  if (process.env.SWITCHYARD_INTERNALS === '0') {
    // Only what has no public equivalent at the same cost stays: without `_httpMessage`, every
    // HTTP request would have to be tracked to keep a pipelined upgrade behind its answer.
    const missing = responseSocket ? [] : ['socket _httpMessage'];
    return { enabled: false, disabledBy: 'env', parser: false, listenerStore: false, responseSocket, missing };
  }
  const listenerStore = probeListenerStore();
  const missing = [
    ...(typeof subscribe === 'function' ? [] : ['diagnostics_channel.subscribe']),
    ...(parser ? [] : ['http parser kOnExecute']),
    ...(listenerStore ? [] : ['EventEmitter _events']),
    ...(responseSocket ? [] : ['socket _httpMessage']),
  ];
  const enabled = parser && typeof subscribe === 'function';
  return { enabled, disabledBy: enabled ? undefined : 'detection', parser, listenerStore, responseSocket, missing };
}

/** What the detection found when core loaded. */
export const internalRoute: InternalRoute = Object.freeze(detect());

// Public API only (async_hooks), so not behind SWITCHYARD_INTERNALS: see tick-shape.ts.
keepTickShape();

let warned = false;

/**
 * Says once, as a process warning, that a detection failed and switchyard uses public APIs
 * only; nothing when `SWITCHYARD_INTERNALS=0` asked for that.
 */
export function warnIfDegraded(): void {
  if (warned || internalRoute.missing.length === 0) return;
  warned = true;
  process.emitWarning(
    `switchyard could not find ${internalRoute.missing.join(', ')} in this Node ${process.version}; it uses public APIs only. ` +
      "Call routeUpgrades(server) before the first WebSocket request so that upgrades reach it through the 'upgrade' event.",
    { code: 'SWITCHYARD_PUBLIC_ROUTE' },
  );
}

/** Subscribes to the start of every HTTP request in the process, when the internal route is on. */
export function onRequestStart(listener: (message: unknown) => void): boolean {
  if (!internalRoute.enabled) return false;
  subscribe('http.server.request.start', listener as (message: unknown, name: string | symbol) => void);
  return true;
}

/**
 * Marks a request as an upgrade. Set before its 'request' listeners run (from the channel) or
 * before the parser's upgrade step (runUpgradeStep), it makes Node's own upgrade code unhook the
 * parser, its timers and listeners, and emit 'upgrade' with the bytes after the headers.
 */
export function markUpgrade(req: IncomingMessage): void {
  (req as IncomingMessage & { upgrade: boolean }).upgrade = true;
}

/** The HTTP parser reading `socket` for `req`, or undefined (none, another request's, or off). */
export function parserFor(socket: Duplex, req: IncomingMessage): HttpParser | undefined {
  if (!internalRoute.enabled) return undefined;
  const parser = (socket as unknown as { parser?: HttpParser | null }).parser;
  return parser && parser.incoming === req ? parser : undefined;
}

/**
 * Runs the parser's upgrade step now, when nothing is being parsed (an await ran since the
 * 'request' event), instead of when the next bytes come in.
 */
export function runUpgradeStep(parser: HttpParser): void {
  if (parser.getCurrentBuffer().length !== 0) return;
  const onExecute = parser[(parser.constructor as unknown as { kOnExecute: number }).kOnExecute];
  onExecute?.(0);
}

/** A listener as EventEmitter stores it. */
export type StoredListener = (...args: any[]) => unknown;

/** A socket's listeners of one event as EventEmitter stores them: none, one, or an array. */
export type StoredListeners = StoredListener | StoredListener[] | undefined;

/**
 * The listeners of `event`, as stored (never copied) when the store was detected, else a copy
 * from `rawListeners()`. Either way a `once()` wrapper stays a wrapper.
 */
export function storedListeners(emitter: EventEmitter, event: string): StoredListeners {
  if (internalRoute.listenerStore)
    return (emitter as unknown as { _events: Record<string, StoredListeners> })._events[event];
  const listeners = emitter.rawListeners(event) as StoredListener[];
  return listeners.length === 0 ? undefined : listeners.length === 1 ? listeners[0] : listeners;
}

/**
 * An empty listener table that V8 keeps in fast mode. EventEmitter starts each emitter with
 * `{ __proto__: null }`, which V8 stores as a dictionary: 272 bytes for an empty table, on every
 * idle connection's WebSocket, which never gets a listener of its own (its events are routed).
 * An instance of a function whose prototype has no prototype is just as empty (no inherited
 * names, no `constructor`), and costs a small fast object instead. Node's streams avoid the
 * dictionary their own way (a table with every stream event as a slot).
 */
const ListenerTable = function ListenerTable(): void {} as unknown as new () => object;
ListenerTable.prototype = Object.create(null) as object;

/**
 * Gives `emitter` a compact empty listener table when it has no listener yet (else, or without
 * the detected store, leaves it alone). EventEmitter works on it as on its own.
 */
export function compactListeners(emitter: EventEmitter): void {
  if (!internalRoute.listenerStore) return;
  const store = emitter as unknown as { _events: object; _eventsCount: number };
  if (store._eventsCount === 0) store._events = new ListenerTable();
}

/** True when `emitter` has no listener of any event. */
export function hasNoListeners(emitter: EventEmitter): boolean {
  if (internalRoute.listenerStore) return (emitter as unknown as { _eventsCount: number })._eventsCount === 0;
  return emitter.eventNames().length === 0;
}

/**
 * The response a socket serves now, as Node's HTTP server tracks it; without the detection,
 * `own` (the request's own response is then taken to be the only one).
 */
export function responseOn(socket: Duplex, own: ServerResponse | undefined): ServerResponse | null | undefined {
  if (!internalRoute.responseSocket) return own;
  return (socket as Duplex & { _httpMessage?: ServerResponse | null })._httpMessage;
}

/** The HTTP server that accepted this request's socket (`net.Server` sets `socket.server`). */
export function serverOf(req: IncomingMessage): Server | undefined {
  return (req.socket as unknown as { server?: Server } | undefined)?.server;
}
