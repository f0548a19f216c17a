/**
 * The defaults of `websocket({...})` and the names it knows: what an option left out becomes,
 * and the lists an unknown (often misspelt) name is checked against.
 */
import type { ControlRateOptions, HeartbeatOptions } from './options-types.js';

/**
 * The headers a connection keeps by default: enough to log and route it, not its credentials.
 * A client can send up to Node's 16 KB of headers; kept whole, that would be its cost per idle
 * connection for as long as it stays.
 */
export const DEFAULT_KEPT_HEADERS: readonly string[] = [
  'host',
  'origin',
  'user-agent',
  'accept-language',
  'x-forwarded-for',
  'x-forwarded-host',
  'x-forwarded-proto',
  'x-real-ip',
  'forwarded',
  'x-request-id',
  'traceparent',
];

/** The default `maxBufferedAmount`: 16 MiB, as Bun's `backpressureLimit`. */
export const DEFAULT_MAX_BUFFERED_AMOUNT = 16 * 1024 * 1024;

/**
 * The default `closeTimeout`: how long a peer has to answer the server's close frame. ws waits
 * 30 s, for which a peer that ignores the close keeps its place under the caps.
 */
export const DEFAULT_CLOSE_TIMEOUT = 5_000;

/** The default `maxDepth`: deeper than any message an app means, shallow enough to cost nothing. */
export const DEFAULT_MAX_DEPTH = 64;

/** Every `controlRate: {...}` setting with its default; a name not here is a TypeError. */
export const CONTROL_RATE_DEFAULTS: Required<ControlRateOptions> = { frames: 10, per: 1000, burst: 50 };

/** Every top-level option and hook name; a name not here is a TypeError. */
export const OPTION_NAMES = new Set([
  'protocols',
  'origins',
  'maxPayload',
  'compression',
  'heartbeat',
  'highWaterMark',
  'maxBufferedAmount',
  'hub',
  'fallback',
  'keepHeaders',
  'maxConnections',
  'maxConnectionsPerAddress',
  'handshakeRate',
  'maxPendingHandshakes',
  'rateLimit',
  'controlRate',
  'maxDepth',
  'idleTimeout',
  'maxLifetime',
  'closeTimeout',
  'limited',
  'rejected',
  'stats',
  'schema',
  'outgoing',
  'invalid',
  'recovery',
  'upgrade',
  'open',
  'message',
  'close',
  'ping',
  'pong',
  'drain',
  'error',
]);
/** The names `compression: {...}` accepts: ws's perMessageDeflate options. */
export const COMPRESSION_NAMES: ReadonlySet<string> = new Set([
  'threshold',
  'concurrencyLimit',
  'serverNoContextTakeover',
  'clientNoContextTakeover',
  'serverMaxWindowBits',
  'clientMaxWindowBits',
  'zlibDeflateOptions',
  'zlibInflateOptions',
]);
/** Every `heartbeat: {...}` setting with its default; a name not here is a TypeError. */
export const HEARTBEAT_DEFAULTS: Required<HeartbeatOptions> = { interval: 30_000, timeout: 10_000 };
/** Every `fallback: {...}` setting; a name not here is a TypeError. */
export const FALLBACK_NAMES: ReadonlySet<string> = new Set([
  'sessionTimeout',
  'heartbeat',
  'retry',
  'replay',
  'replayBytes',
  'owner',
]);
/** The hooks; each, when given, must be a function. */
export const HOOK_NAMES = [
  'upgrade',
  'open',
  'message',
  'close',
  'ping',
  'pong',
  'drain',
  'error',
  'limited',
  'rejected',
  'invalid',
] as const;
