import type { Connection, CloseEvent } from './connection.js';
import type { HandshakeRejection } from './errors.js';
import { ErrorCode, withCode } from './errors.js';
import type { FallbackOptions, ResolvedFallbackOptions } from './fallback/session.js';
import type { Hub } from './hub.js';
import type { RequestInfo, UpgradeRequest } from './request.js';
import type { Rate } from './limits.js';
import type { ProtocolOption } from './subprotocol.js';
import type { StandardSchemaV1 } from './schema.js';
import { isStandardSchema } from './schema.js';
import { resolveRecovery } from './recovery/index.js';
import type { RecoveryOptions, ResolvedRecovery } from './recovery/index.js';

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
  /** The largest LZ77 window the server compresses with (`server_max_window_bits`, 8 to 15). */
  serverMaxWindowBits?: number;
  /** The largest LZ77 window the client may compress with (`client_max_window_bits`, 8 to 15). */
  clientMaxWindowBits?: number;
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

/**
 * What the `upgrade` hook may return: a per-connection context (and optionally when the
 * connection must end, e.g. the expiry of the token it checked), nothing, or a rejection.
 */
export type UpgradeResult<Context> = { context: Context; expiresAt?: Date | number } | void | undefined | HandshakeRejection;

/** A per-connection message rate: a token bucket of `messages` (and/or `bytes`) per `per` ms. */
export interface RateLimitOptions {
  /** Messages allowed per `per` ms. */
  messages?: number;
  /** Message bytes allowed per `per` ms. */
  bytes?: number;
  /** The period in ms. Default 1000. */
  per?: number;
  /** Messages that may come at once. Default `messages`. */
  burst?: number;
  /** Bytes that may come at once. Default `bytes`. */
  burstBytes?: number;
}

/** A handshake rate per client address: a token bucket of `handshakes` per `per` ms. */
export interface HandshakeRateOptions {
  /** Handshakes allowed per `per` ms from one address. */
  handshakes: number;
  /** The period in ms. Default 1000. */
  per?: number;
  /** Handshakes that may come at once. Default `handshakes`. */
  burst?: number;
}

/** What the `rejected` hook sees of a handshake that core refused. */
export interface RejectionInfo {
  /** The HTTP status sent. */
  status: number;
  /** The reason, as in the response body. */
  reason: string;
  /** The request path, without the query string (it may carry a token). */
  path: string;
  /** The client's address (behind a trusted proxy, the forwarded one). */
  remoteAddress: string | undefined;
}

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
  /** Resumable connections on a durable hub (issue 19, recovery.ts): what a client missed while away is replayed. */
  recovery?: RecoveryOptions | false;
  /**
   * The request headers each connection keeps as `ws.request.headers` for its whole life:
   * header names (any case), or `true` for all of them. Default: {@link DEFAULT_KEPT_HEADERS},
   * each at most 1 KiB. The `upgrade` hook always sees every header.
   */
  keepHeaders?: readonly string[] | true;
  /** Open connections (fallback sessions included) at most; beyond, 503 with `Retry-After`. Default: no limit. */
  maxConnections?: number;
  /** Open connections from one client address at most; beyond, 429 with `Retry-After`. Default: no limit. */
  maxConnectionsPerAddress?: number;
  /** Handshakes per address, as a token bucket; beyond, 429 with `Retry-After`. Default: no limit. */
  handshakeRate?: HandshakeRateOptions;
  /** Messages (and bytes) per connection; beyond, 1008, or `limited(ws)` and the message is dropped. */
  rateLimit?: RateLimitOptions;
  /** Close a connection with no message either way for this long (ms), with 4000. Default: never. */
  idleTimeout?: number;
  /** Close every connection this long (ms) after it opened, with 4001. Default: never. */
  maxLifetime?: number;
  /** Count connections, handshakes, messages, bytes, close codes and ping times for `endpoint.stats()`. Default true. */
  stats?: boolean;
}

/**
 * The message type a `schema` gives: its output, or text and binary as they come without one.
 * With `any` (an untyped handlers object), the same as no schema.
 */
export type MessageOf<Schema> = 0 extends 1 & Schema ? string | Buffer
  : Schema extends StandardSchemaV1 ? StandardSchemaV1.InferOutput<Schema> : string | Buffer;

/** What an `outgoing` schema lets `ws.send` take besides strings and binary data: its input, as JSON. */
export type OutgoingOf<Schema> = 0 extends 1 & Schema ? never
  : Schema extends StandardSchemaV1 ? StandardSchemaV1.InferInput<Schema> : never;

/** The `schema` and `outgoing` options, typed. */
export interface SchemaOptions<Schema, Outgoing> {
  /**
   * A Standard Schema validator (zod, valibot, arktype...): every message is JSON-parsed and
   * validated before `message` (or a `for await` loop) sees it, typed as the schema's output.
   * Invalid JSON or data closes with 1007, or calls `invalid` when given.
   */
  schema?: Schema;
  /** A Standard Schema for what this endpoint sends: types `ws.send(object)`, sent as JSON text. */
  outgoing?: Outgoing;
}

/**
 * The headers a connection keeps by default: enough to log and route it, not its credentials.
 * A client can send up to Node's 16 KB of headers; kept whole, that would be its cost per idle
 * connection for as long as it stays.
 */
export const DEFAULT_KEPT_HEADERS: readonly string[] = [
  'host', 'origin', 'user-agent', 'accept-language', 'x-forwarded-for', 'x-forwarded-host',
  'x-forwarded-proto', 'x-real-ip', 'forwarded', 'x-request-id', 'traceparent',
];

/** The handler hooks. `Context` is inferred from what `upgrade` returns; `Message` and `Outgoing` from `schema` and `outgoing`. */
export interface Hooks<Context, Message = string | Buffer, Outgoing = never> {
  /** Runs before the 101. Throw or return `reject(...)` to answer with HTTP instead. */
  upgrade?(req: UpgradeRequest): UpgradeResult<Context> | Promise<UpgradeResult<Context>>;
  /** The connection is open. Messages that arrive while an async `open` runs wait for it. */
  open?(ws: Connection<Context, Message, Outgoing>): unknown;
  /** A message: text as a string, binary as a Buffer. */
  message?(ws: Connection<Context, Message, Outgoing>, data: Message, isBinary: boolean): unknown;
  /** With `schema`: a message that is not JSON or not valid. Without this hook, the connection closes with 1007. */
  invalid?(ws: Connection<Context, Message, Outgoing>, issues: ReadonlyArray<StandardSchemaV1.Issue>, data: string | Buffer): unknown;
  /** The connection closed. */
  close?(ws: Connection<Context, Message, Outgoing>, event: CloseEvent): unknown;
  /** The peer pinged (the pong is sent automatically). */
  ping?(ws: Connection<Context, Message, Outgoing>, data: Buffer): unknown;
  /** The peer answered a ping. */
  pong?(ws: Connection<Context, Message, Outgoing>, data: Buffer): unknown;
  /** The send buffer went below the high-water mark after `send()` returned false. */
  drain?(ws: Connection<Context, Message, Outgoing>): unknown;
  /** A handler threw or rejected (the connection closes with 1011), or the peer broke the protocol. */
  error?(ws: Connection<Context, Message, Outgoing> | undefined, error: Error): unknown;
  /** A message over `rateLimit` was dropped. Without this hook, the connection closes with 1008 instead. */
  limited?(ws: Connection<Context, Message, Outgoing>, data: string | Buffer): unknown;
  /** Core refused a handshake (400, 403, 426, 429, 503, a `reject()` from `upgrade`...): for logs and counts. */
  rejected?(info: RejectionInfo): unknown;
}

/** Everything `websocket({...})` accepts. */
export type Handlers<Context = undefined, Schema = undefined, Outgoing = undefined> =
  EndpointOptions & SchemaOptions<Schema, Outgoing> & Hooks<Context, MessageOf<Schema>, OutgoingOf<Outgoing>>;

/** Faye style: a function called once per connection, that attaches its own listeners. */
export type ConnectionListener = (ws: Connection<undefined>, req: RequestInfo) => unknown;

const OPTION_NAMES = new Set([
  'protocols', 'origins', 'maxPayload', 'compression', 'heartbeat', 'highWaterMark', 'maxBufferedAmount', 'hub', 'fallback',
  'keepHeaders', 'maxConnections', 'maxConnectionsPerAddress', 'handshakeRate', 'rateLimit', 'idleTimeout', 'maxLifetime',
  'limited', 'rejected', 'stats', 'schema', 'outgoing', 'invalid', 'recovery',
  'upgrade', 'open', 'message', 'close', 'ping', 'pong', 'drain', 'error',
]);
/** The names `compression: {...}` accepts: ws's perMessageDeflate options. */
const COMPRESSION_NAMES: ReadonlySet<string> = new Set([
  'threshold', 'concurrencyLimit', 'serverNoContextTakeover', 'clientNoContextTakeover',
  'serverMaxWindowBits', 'clientMaxWindowBits', 'zlibDeflateOptions', 'zlibInflateOptions',
]);
/** Every `heartbeat: {...}` setting with its default; a name not here is a TypeError. */
const HEARTBEAT_DEFAULTS: Required<HeartbeatOptions> = { interval: 30_000, timeout: 10_000 };
/** Every `fallback: {...}` setting; a name not here is a TypeError. */
const FALLBACK_NAMES: ReadonlySet<string> = new Set(['sessionTimeout', 'heartbeat', 'retry', 'replay', 'replayBytes', 'owner']);
const HOOK_NAMES = ['upgrade', 'open', 'message', 'close', 'ping', 'pong', 'drain', 'error', 'limited', 'rejected', 'invalid'] as const;

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
  /** issue-19 */
  recovery: ResolvedRecovery | false;
  /** Lower-cased names of the headers a connection keeps, or `true` for all. */
  keepHeaders: ReadonlySet<string> | true;
  /** Kept header values longer than this are dropped (only for the default list). */
  maxKeptHeaderLength: number;
  maxConnections: number;
  maxConnectionsPerAddress: number;
  handshakeRate: Rate | undefined;
  messageRate: Rate | undefined;
  byteRate: Rate | undefined;
  idleTimeout: number;
  maxLifetime: number;
  stats: boolean;
  /** The `schema` validator, if any. */
  schema: StandardSchemaV1 | undefined;
}

function rateOf(option: string, countName: string, count: number | undefined, per: number | undefined, burstName: string, burst: number | undefined): Rate | undefined {
  if (count === undefined) return undefined;
  const rate = positive(`${option}.${countName}`, count, 1);
  return { count: rate, per: positive(`${option}.per`, per, 1000), burst: positive(`${option}.${burstName}`, burst, rate) };
}

/** The default `maxBufferedAmount`: 16 MiB, as Bun's `backpressureLimit`. */
export const DEFAULT_MAX_BUFFERED_AMOUNT = 16 * 1024 * 1024;


function positive(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !(value > 0)) {
    throw invalidOption(`websocket(): option "${name}" must be a positive number, got ${String(value)}`);
  }
  return value;
}

/** Validates options and hooks; unknown names are a `TypeError`, not silently ignored. */
export function resolveOptions(handlers: Handlers<unknown>, defaults: EndpointOptions = {}): ResolvedOptions {
  if (handlers === null || typeof handlers !== 'object') {
    throw invalidOption('websocket(): expected a handlers object or a connection function');
  }
  for (const source of [defaults, handlers]) {
    for (const name of Object.keys(source)) {
      if (!OPTION_NAMES.has(name)) throw invalidOption(`websocket(): unknown option "${name}"`);
    }
  }
  for (const name of HOOK_NAMES) {
    const hook = handlers[name];
    if (hook !== undefined && typeof hook !== 'function') {
      throw invalidOption(`websocket(): "${name}" must be a function`);
    }
  }
  const merged: EndpointOptions & SchemaOptions<unknown, unknown> = { ...defaults, ...handlers };
  for (const name of ['schema', 'outgoing'] as const) {
    if (merged[name] !== undefined && !isStandardSchema(merged[name])) {
      throw invalidOption(`websocket(): option "${name}" must be a Standard Schema validator (zod, valibot, arktype...)`);
    }
  }
  if (merged.stats !== undefined && typeof merged.stats !== 'boolean') {
    throw invalidOption('websocket(): option "stats" must be a boolean');
  }
  const { protocols, origins, compression, heartbeat } = merged;
  if (protocols !== undefined && typeof protocols !== 'function' &&
      !(Array.isArray(protocols) && protocols.every((p) => typeof p === 'string' && p.length > 0))) {
    throw invalidOption('websocket(): option "protocols" must be an array of non-empty strings or a function');
  }
  if (origins !== undefined && typeof origins !== 'function' && !Array.isArray(origins)) {
    throw invalidOption('websocket(): option "origins" must be an array of origins or a function');
  }
  if (compression !== undefined && typeof compression !== 'boolean' && (compression === null || typeof compression !== 'object')) {
    throw invalidOption('websocket(): option "compression" must be a boolean or an options object');
  }
  if (merged.hub !== undefined && (merged.hub === null || typeof merged.hub !== 'object' || typeof merged.hub.publish !== 'function')) {
    throw invalidOption('websocket(): option "hub" must be a hub from createHub() or a distributed hub');
  }
  if (merged.fallback !== undefined && merged.fallback !== false && (merged.fallback === null || typeof merged.fallback !== 'object')) {
    throw invalidOption('websocket(): option "fallback" must be false or { sessionTimeout, heartbeat, retry, replay, replayBytes, owner }');
  }
  if (merged.fallback) {
    knownNames('fallback', merged.fallback, FALLBACK_NAMES);
    if (merged.fallback.owner !== undefined && typeof merged.fallback.owner !== 'function') {
      throw invalidOption('websocket(): "fallback.owner" must be a function');
    }
  }
  const { keepHeaders } = merged;
  if (keepHeaders !== undefined && keepHeaders !== true &&
      !(Array.isArray(keepHeaders) && keepHeaders.every((h) => typeof h === 'string' && h.length > 0))) {
    throw invalidOption('websocket(): option "keepHeaders" must be true or an array of header names');
  }
  if (heartbeat !== undefined && heartbeat !== false && (heartbeat === null || typeof heartbeat !== 'object')) {
    throw invalidOption('websocket(): option "heartbeat" must be false or { interval, timeout }');
  }
  // A misspelt nested name (heartbeat.intervall) would otherwise leave its default in force
  // unseen; a plugin's defaults are checked too, though a route's own group replaces them.
  for (const source of [defaults, handlers]) {
    if (source.heartbeat) knownNames('heartbeat', source.heartbeat, HEARTBEAT_DEFAULTS);
    if (source.fallback) knownNames('fallback', source.fallback, FALLBACK_NAMES);
    if (typeof source.compression === 'object' && source.compression !== null) knownNames('compression', source.compression, COMPRESSION_NAMES);
  }
  const { handshakeRate, rateLimit } = merged;
  if (handshakeRate !== undefined) {
    if (handshakeRate === null || typeof handshakeRate !== 'object') {
      throw invalidOption('websocket(): option "handshakeRate" must be { handshakes, per, burst }');
    }
    knownNames('handshakeRate', handshakeRate, new Set(['handshakes', 'per', 'burst']));
    if (handshakeRate.handshakes === undefined) throw invalidOption('websocket(): option "handshakeRate.handshakes" is required');
  }
  if (rateLimit !== undefined) {
    if (rateLimit === null || typeof rateLimit !== 'object') {
      throw invalidOption('websocket(): option "rateLimit" must be { messages, bytes, per, burst, burstBytes }');
    }
    knownNames('rateLimit', rateLimit, new Set(['messages', 'bytes', 'per', 'burst', 'burstBytes']));
    if (rateLimit.messages === undefined && rateLimit.bytes === undefined) {
      throw invalidOption('websocket(): option "rateLimit" needs "messages", "bytes" or both');
    }
  }
  return {
    recovery: resolveRecovery(merged.recovery, merged.hub), // issue-19
    protocols,
    origins,
    maxPayload: positive('maxPayload', merged.maxPayload, 1024 * 1024),
    compression: compression === true ? {} : compression || false,
    heartbeat: heartbeat === false ? false : withDefaults('heartbeat', heartbeat, HEARTBEAT_DEFAULTS),
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
    keepHeaders: keepHeaders === true ? true : new Set((keepHeaders ?? DEFAULT_KEPT_HEADERS).map((h) => h.toLowerCase())),
    // Headers the app named itself are kept whole; the default list guards against a client
    // that pads a header it would keep anyway.
    maxKeptHeaderLength: keepHeaders === undefined ? 1024 : Infinity,
    maxConnections: positive('maxConnections', merged.maxConnections, Infinity),
    maxConnectionsPerAddress: positive('maxConnectionsPerAddress', merged.maxConnectionsPerAddress, Infinity),
    handshakeRate: handshakeRate && rateOf('handshakeRate', 'handshakes', handshakeRate.handshakes, handshakeRate.per, 'burst', handshakeRate.burst),
    messageRate: rateLimit && rateOf('rateLimit', 'messages', rateLimit.messages, rateLimit.per, 'burst', rateLimit.burst),
    byteRate: rateLimit && rateOf('rateLimit', 'bytes', rateLimit.bytes, rateLimit.per, 'burstBytes', rateLimit.burstBytes),
    idleTimeout: positive('idleTimeout', merged.idleTimeout, Infinity),
    maxLifetime: positive('maxLifetime', merged.maxLifetime, Infinity),
    stats: merged.stats ?? true,
    schema: merged.schema as StandardSchemaV1 | undefined,
  };
}

/** Each setting of a group, from `value` or its default, checked to be a positive number. */
function withDefaults<T extends Record<string, number>>(group: string, value: Partial<T> | undefined, defaults: T): T {
  const resolved = {} as Record<string, number>;
  for (const [name, fallback] of Object.entries(defaults)) resolved[name] = positive(`${group}.${name}`, value?.[name], fallback);
  return resolved as T;
}

/** Rejects a nested option name the group does not know, naming its full path. */
function knownNames(group: string, value: object, known: ReadonlySet<string> | object): void {
  for (const name of Object.keys(value)) {
    if (known instanceof Set ? !known.has(name) : !Object.hasOwn(known, name)) throw invalidOption(`websocket(): unknown option "${group}.${name}"`);
  }
}

/** A wrong option: a TypeError with a fixed message and {@link ErrorCode.INVALID_OPTION}. */
function invalidOption(message: string): TypeError {
  return withCode(new TypeError(message), ErrorCode.INVALID_OPTION);
}
