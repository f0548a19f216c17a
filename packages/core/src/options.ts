import type { Connection, CloseEvent } from './connection.js';
import type { HandshakeRejection } from './errors.js';
import type { FallbackOptions, ResolvedFallbackOptions } from './fallback.js';
import type { Hub } from './hub.js';
import type { RequestInfo, UpgradeRequest } from './request.js';
import type { ProtocolOption } from './subprotocol.js';

/** permessage-deflate settings, passed to `ws` (see its `perMessageDeflate` option). */
export interface CompressionOptions {
  /** Messages smaller than this many bytes are sent uncompressed. Default 1024. */
  threshold?: number;
  /** How many zlib jobs may run at once per process. Default 10. */
  concurrencyLimit?: number;
  /** Offer/accept `server_no_context_takeover`. */
  serverNoContextTakeover?: boolean;
  /** Offer/accept `client_no_context_takeover`. */
  clientNoContextTakeover?: boolean;
  /** zlib options for compression. */
  zlibDeflateOptions?: Record<string, unknown>;
  /** zlib options for decompression. */
  zlibInflateOptions?: Record<string, unknown>;
}

/** Heartbeat timing in milliseconds. */
export interface HeartbeatOptions {
  /** Ping a connection this long after its last ping. Default 30 000. */
  interval?: number;
  /** Terminate a connection whose pong has not come this long after the ping. Default 10 000. */
  timeout?: number;
}

/** What the `upgrade` hook may return: a per-connection context, nothing, or a rejection. */
export type UpgradeResult<Context> = { context: Context } | void | undefined | HandshakeRejection;

/** Endpoint settings. The same object works in the Express, Koa and Fastify adapters. */
export interface EndpointOptions {
  /** Subprotocols in server preference order, or a function choosing from the client's offer. */
  protocols?: ProtocolOption<UpgradeRequest>;
  /** Allowed `Origin` values, or a predicate. Requests without an Origin (non-browsers) pass. */
  origins?: readonly string[] | ((origin: string, req: UpgradeRequest) => boolean);
  /** Largest message accepted, in bytes; larger ones close with 1009. Default 1 MiB. */
  maxPayload?: number;
  /** permessage-deflate: off by default. `true` uses ws's safe defaults. */
  compression?: boolean | CompressionOptions;
  /** Ping/pong liveness checks; on by default, `false` turns them off. */
  heartbeat?: HeartbeatOptions | false;
  /** `send()` returns false above this many buffered bytes. Default 64 KiB. */
  highWaterMark?: number;
  /**
   * Close a slow consumer with 1008 once this many bytes are buffered. Default 16 MiB (Bun's
   * `backpressureLimit`); `Infinity` turns the limit off.
   */
  maxBufferedAmount?: number;
  /** The hub behind `ws.subscribe` / `ws.publish`. Default: an in-process hub of this endpoint. */
  hub?: Hub;
  /** The SSE + POST transport for clients whose WebSockets are blocked; `false` turns it off. */
  fallback?: FallbackOptions | false;
}

/** The handler hooks. `Context` is inferred from what `upgrade` returns. */
export interface Hooks<Context> {
  /** Runs before the 101. Throw or return `reject(...)` to answer with HTTP instead. */
  upgrade?(req: UpgradeRequest): UpgradeResult<Context> | Promise<UpgradeResult<Context>>;
  /** The connection is open. Messages that arrive while an async `open` runs wait for it. */
  open?(ws: Connection<Context>): unknown;
  /** A message: text as a string, binary as a Buffer. */
  message?(ws: Connection<Context>, data: string | Buffer, isBinary: boolean): unknown;
  /** The connection closed. */
  close?(ws: Connection<Context>, event: CloseEvent): unknown;
  /** The peer pinged (the pong is sent automatically). */
  ping?(ws: Connection<Context>, data: Buffer): unknown;
  /** The peer answered a ping. */
  pong?(ws: Connection<Context>, data: Buffer): unknown;
  /** The send buffer went below the high-water mark after `send()` returned false. */
  drain?(ws: Connection<Context>): unknown;
  /** A handler threw or rejected (the connection closes with 1011), or the peer broke the protocol. */
  error?(ws: Connection<Context> | undefined, error: Error): unknown;
}

/** Everything `websocket({...})` accepts. */
export type Handlers<Context = undefined> = EndpointOptions & Hooks<Context>;

/** Faye style: a function called once per connection, that attaches its own listeners. */
export type ConnectionListener = (ws: Connection<undefined>, req: RequestInfo) => unknown;

const OPTION_NAMES = new Set([
  'protocols', 'origins', 'maxPayload', 'compression', 'heartbeat', 'highWaterMark', 'maxBufferedAmount', 'hub', 'fallback',
  'upgrade', 'open', 'message', 'close', 'ping', 'pong', 'drain', 'error',
]);
const HOOK_NAMES = ['upgrade', 'open', 'message', 'close', 'ping', 'pong', 'drain', 'error'] as const;

/** Resolved settings, with defaults applied. */
export interface ResolvedOptions {
  protocols: ProtocolOption<UpgradeRequest> | undefined;
  origins: EndpointOptions['origins'];
  maxPayload: number;
  compression: false | CompressionOptions;
  heartbeat: Required<HeartbeatOptions> | false;
  highWaterMark: number;
  maxBufferedAmount: number;
  hub: Hub | undefined;
  fallback: ResolvedFallbackOptions | false;
}

/** The default `maxBufferedAmount`: 16 MiB, as Bun's `backpressureLimit`. */
export const DEFAULT_MAX_BUFFERED_AMOUNT = 16 * 1024 * 1024;

const FALLBACK_OPTION_NAMES = new Set(['sessionTimeout', 'heartbeat', 'retry', 'replay', 'replayBytes', 'owner']);

function positive(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !(value > 0)) {
    throw new TypeError(`websocket(): option "${name}" must be a positive number, got ${String(value)}`);
  }
  return value;
}

/** Validates options and hooks; unknown names are a `TypeError`, not silently ignored. */
export function resolveOptions(handlers: Handlers<unknown>, defaults: EndpointOptions = {}): ResolvedOptions {
  if (handlers === null || typeof handlers !== 'object') {
    throw new TypeError('websocket(): expected a handlers object or a connection function');
  }
  for (const source of [defaults, handlers]) {
    for (const name of Object.keys(source)) {
      if (!OPTION_NAMES.has(name)) throw new TypeError(`websocket(): unknown option "${name}"`);
    }
  }
  for (const name of HOOK_NAMES) {
    const hook = handlers[name];
    if (hook !== undefined && typeof hook !== 'function') {
      throw new TypeError(`websocket(): "${name}" must be a function`);
    }
  }
  const merged: EndpointOptions = { ...defaults, ...handlers };
  const { protocols, origins, compression, heartbeat } = merged;
  if (protocols !== undefined && typeof protocols !== 'function' &&
      !(Array.isArray(protocols) && protocols.every((p) => typeof p === 'string' && p.length > 0))) {
    throw new TypeError('websocket(): option "protocols" must be an array of non-empty strings or a function');
  }
  if (origins !== undefined && typeof origins !== 'function' && !Array.isArray(origins)) {
    throw new TypeError('websocket(): option "origins" must be an array of origins or a function');
  }
  if (compression !== undefined && typeof compression !== 'boolean' && (compression === null || typeof compression !== 'object')) {
    throw new TypeError('websocket(): option "compression" must be a boolean or an options object');
  }
  if (merged.hub !== undefined && (merged.hub === null || typeof merged.hub !== 'object' || typeof merged.hub.publish !== 'function')) {
    throw new TypeError('websocket(): option "hub" must be a hub from createHub() or a distributed hub');
  }
  if (merged.fallback !== undefined && merged.fallback !== false && (merged.fallback === null || typeof merged.fallback !== 'object')) {
    throw new TypeError('websocket(): option "fallback" must be false or { sessionTimeout, heartbeat, retry, replay, replayBytes, owner }');
  }
  if (merged.fallback) {
    for (const name of Object.keys(merged.fallback)) {
      if (!FALLBACK_OPTION_NAMES.has(name)) throw new TypeError(`websocket(): unknown option "fallback.${name}"`);
    }
    if (merged.fallback.owner !== undefined && typeof merged.fallback.owner !== 'function') {
      throw new TypeError('websocket(): "fallback.owner" must be a function');
    }
  }
  if (heartbeat !== undefined && heartbeat !== false && (heartbeat === null || typeof heartbeat !== 'object')) {
    throw new TypeError('websocket(): option "heartbeat" must be false or { interval, timeout }');
  }
  return {
    protocols,
    origins,
    maxPayload: positive('maxPayload', merged.maxPayload, 1024 * 1024),
    compression: compression === true ? {} : compression || false,
    heartbeat: heartbeat === false ? false : {
      interval: positive('heartbeat.interval', heartbeat?.interval, 30_000),
      timeout: positive('heartbeat.timeout', heartbeat?.timeout, 10_000),
    },
    highWaterMark: positive('highWaterMark', merged.highWaterMark, 64 * 1024),
    maxBufferedAmount: positive('maxBufferedAmount', merged.maxBufferedAmount, DEFAULT_MAX_BUFFERED_AMOUNT),
    hub: merged.hub,
    fallback: merged.fallback === false ? false : {
      sessionTimeout: positive('fallback.sessionTimeout', merged.fallback?.sessionTimeout, 30_000),
      heartbeat: positive('fallback.heartbeat', merged.fallback?.heartbeat, 15_000),
      retry: positive('fallback.retry', merged.fallback?.retry, 1000),
      replay: positive('fallback.replay', merged.fallback?.replay, 1000),
      replayBytes: positive('fallback.replayBytes', merged.fallback?.replayBytes, 2 * 1024 * 1024),
      ...(merged.fallback?.owner ? { owner: merged.fallback.owner } : {}),
    },
  };
}
