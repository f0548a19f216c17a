/**
 * The option and hook types of `websocket({...})`: what an app may pass (EndpointOptions,
 * Hooks, Handlers and their groups) and what resolution makes of it (ResolvedOptions).
 * Types only; the defaults are in options-defaults.ts, the checks in options-resolve.ts.
 */
import type { Connection } from './connection.js';
import type { CloseEvent } from './connection-types.js';
import type { HandshakeRejection } from './errors.js';
import type { FallbackOptions, ResolvedFallbackOptions } from './fallback/settings.js';
import type { Hub } from './hub.js';
import type { RequestInfo, UpgradeRequest } from './request.js';
import type { Rate } from './limits.js';
import type { ProtocolOption } from './subprotocol.js';
import type { StandardSchemaV1 } from './schema.js';
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
export type UpgradeResult<Context> =
  | { context: Context; expiresAt?: Date | number }
  // biome-ignore lint/suspicious/noConfusingVoidType: a hook that returns nothing is the common case
  | void
  | undefined
  | HandshakeRejection;

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

/**
 * The control frames one connection may send: a token bucket of `frames` per `per` ms. Pings
 * and pongs nobody asked for count; the pongs answering this side's own pings do not.
 */
export interface ControlRateOptions {
  /** Control frames allowed per `per` ms. Default 10. */
  frames?: number;
  /** The period in ms. Default 1000. */
  per?: number;
  /**
   * Control frames that may come at once. Default 50: below ws's 60 pending automatic pongs, past
   * which ws drops the connection without a close frame (the app would see 1006, not 1008).
   */
  burst?: number;
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
  /** Resumable connections on a durable hub (recovery/): what a client missed while away is replayed. */
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
  /**
   * Load shedding: handshakes this endpoint may have in progress at once (WebSocket upgrades and
   * new SSE sessions, from the request reaching the endpoint until the 101, or the session's
   * 200, or another answer). Beyond, 503 with `Retry-After` (1–5 s, with jitter) before any hook
   * runs. A place is given back when the handshake settles, or when its socket closes while it
   * waits (a reset). Default 1024; `Infinity` turns it off.
   */
  maxPendingHandshakes?: number;
  /** Messages (and bytes) per connection; beyond, 1008, or `limited(ws)` and the message is dropped. */
  rateLimit?: RateLimitOptions;
  /**
   * Pings and unsolicited pongs per connection; beyond, the connection fails with 1008. On by
   * default (10 a second, bursts of 50): ws answers every ping itself, and the app never sees
   * them to limit them. `false` turns it off.
   */
  controlRate?: ControlRateOptions | false;
  /**
   * With `schema`: the deepest nesting of arrays and objects a message may have, checked by a scan
   * before JSON.parse; deeper, the connection closes with 1007. Default 64; `Infinity` turns it off.
   */
  maxDepth?: number;
  /** Close a connection with no message either way for this long (ms), with 4000. Default: never. */
  idleTimeout?: number;
  /** Close every connection this long (ms) after it opened, with 4001. Default: never. */
  maxLifetime?: number;
  /**
   * After the server's close frame, cut a peer that has not answered it within this many ms,
   * which frees its place under the caps. Default 5000 (ws's own is 30 s).
   */
  closeTimeout?: number;
  /** Count connections, handshakes, messages, bytes, close codes and ping times for `endpoint.stats()`. Default true. */
  stats?: boolean;
}

/**
 * The message type a `schema` gives: its output, or text and binary as they come without one.
 * With `any` (an untyped handlers object), the same as no schema.
 */
export type MessageOf<Schema> = 0 extends 1 & Schema
  ? string | Buffer
  : Schema extends StandardSchemaV1
    ? StandardSchemaV1.InferOutput<Schema>
    : string | Buffer;

/** What an `outgoing` schema lets `ws.send` take besides strings and binary data: its input, as JSON. */
export type OutgoingOf<Schema> = 0 extends 1 & Schema
  ? never
  : Schema extends StandardSchemaV1
    ? StandardSchemaV1.InferInput<Schema>
    : never;

/** The `schema` and `outgoing` options, typed. */
export interface SchemaOptions<Schema, Outgoing> {
  /**
   * A Standard Schema validator (zod, valibot, arktype...): every message is JSON-parsed and
   * validated before `message` (or a `for await` loop) sees it, typed as the schema's output.
   * Invalid JSON or data closes with 1007, or calls `invalid` when given. A message nested deeper
   * than `maxDepth` always closes with 1007, before it is parsed.
   */
  schema?: Schema;
  /** A Standard Schema for what this endpoint sends: types `ws.send(object)`, sent as JSON text. */
  outgoing?: Outgoing;
}

/** The handler hooks. `Context` is inferred from what `upgrade` returns; `Message` and `Outgoing` from `schema` and `outgoing`. */
export interface Hooks<Context, Message = string | Buffer, Outgoing = never> {
  /** Runs before the 101. Throw or return `reject(...)` to answer with HTTP instead. */
  upgrade?(req: UpgradeRequest): UpgradeResult<Context> | Promise<UpgradeResult<Context>>;
  /** The connection is open. Messages that arrive while an async `open` runs wait for it. */
  open?(ws: Connection<Context, Message, Outgoing>): unknown;
  /** A message: text as a string, binary as a Buffer. */
  message?(ws: Connection<Context, Message, Outgoing>, data: Message, isBinary: boolean): unknown;
  /** With `schema`: a message that is not JSON or not valid. Without this hook, the connection closes with 1007. */
  invalid?(
    ws: Connection<Context, Message, Outgoing>,
    issues: ReadonlyArray<StandardSchemaV1.Issue>,
    data: string | Buffer,
  ): unknown;
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
export type Handlers<Context = undefined, Schema = undefined, Outgoing = undefined> = EndpointOptions &
  SchemaOptions<Schema, Outgoing> &
  Hooks<Context, MessageOf<Schema>, OutgoingOf<Outgoing>>;

/** Faye style: a function called once per connection, that attaches its own listeners. */
export type ConnectionListener = (ws: Connection<undefined>, req: RequestInfo) => unknown;

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
  /** `recovery` with defaults applied, or false. */
  recovery: ResolvedRecovery | false;
  /** Lower-cased names of the headers a connection keeps, or `true` for all. */
  keepHeaders: ReadonlySet<string> | true;
  /** Kept header values longer than this are dropped (only for the default list). */
  maxKeptHeaderLength: number;
  maxConnections: number;
  maxConnectionsPerAddress: number;
  handshakeRate: Rate | undefined;
  maxPendingHandshakes: number;
  messageRate: Rate | undefined;
  byteRate: Rate | undefined;
  /** `controlRate` with defaults applied, or undefined when off. */
  controlRate: Rate | undefined;
  maxDepth: number;
  idleTimeout: number;
  maxLifetime: number;
  closeTimeout: number;
  stats: boolean;
  /** The `schema` validator, if any. */
  schema: StandardSchemaV1 | undefined;
}
