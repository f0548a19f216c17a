/** The options of `connect()`, checked and completed with their defaults. */
import { DEFAULT_RECONNECT } from './backoff.js';
import type { ReconnectOptions } from './backoff.js';
import type { TransportName } from './transport.js';
import type { WebSocketConstructor } from './websocket-transport.js';
import { ErrorCode, codedTypeError } from './errors.js';

/** Everything `connect(url, options)` accepts. */
export interface ConnectOptions {
  /** Subprotocols to offer, in preference order. */
  protocols?: string | string[];
  /** The transports to use, tried in this order. Default `['websocket', 'sse']`. */
  transports?: TransportName[];
  /**
   * How long the WebSocket handshake, and then the endpoint's liveness frame, may each take before
   * the client falls back to SSE; also how long the SSE stream's first event may take (ms), and
   * with `recover` the session frame. Default 3000. A floor: the client lengthens it when the
   * handshakes it measured were slower (an RTO from their mean and deviation, as TCP's), up to
   * `handshakeTimeout`. Once a transport has opened, later attempts over it wait up to
   * `handshakeTimeout` instead; see {@link ConnectOptions.handshakeTimeout}.
   */
  livenessTimeout?: number;
  /**
   * The longest a reconnect over a transport that already worked may take (ms). Such an attempt is
   * not abandoned at `livenessTimeout` merely because the server is slow to answer (a node that
   * all its clients reconnect to at once): abandoning it would leave the handshake to be served
   * anyway, and add another. Where the client sees the TCP connection (`ws` in Node) an attempt
   * whose connection did not come up within `livenessTimeout` (at least 7.5 s, past the kernel's
   * third SYN retransmission, since a node whose listen queue overflows drops SYNs) is still
   * abandoned, which costs the server nothing; up as the kernel sees it (`getpeername`), even
   * when a busy process has not yet run the connection's completion. Default 30 000.
   */
  handshakeTimeout?: number;
  /**
   * Reconnection with backoff; `false` turns it off. A refusal with 503 or 429 and `Retry-After`
   * waits at least as long as it asks, up to 60 s.
   */
  reconnect?: ReconnectOptions | false;
  /** The WebSocket class. Default `globalThis.WebSocket`; without one, only SSE is used. */
  WebSocket?: WebSocketConstructor | undefined;
  /** The fetch function for SSE and POSTs. Default `globalThis.fetch`. */
  fetch?: typeof fetch;
  /**
   * A bearer token, or a function asked for one on every (re)connection. On the WebSocket it
   * goes as a `base64url.bearer.<token>` subprotocol entry (browsers can't set headers there;
   * the server never echoes it); on the SSE fallback as an `Authorization: Bearer` header. Never
   * in a URL. Needs at least one real subprotocol in `protocols`.
   */
  token?: string | (() => string);
  /**
   * Resume the session on reconnect, on an endpoint with `recovery`: missed topic messages are
   * replayed, in order and once. Only for such endpoints: the first message of each connection
   * is the resume token. Default false.
   */
  recover?: boolean;
}

/** The options after checking, with every default filled in. */
export interface Settings {
  protocols: string[];
  transports: TransportName[];
  livenessTimeout: number;
  handshakeTimeout: number;
  reconnect: Required<ReconnectOptions> | false;
  WebSocket: WebSocketConstructor | undefined;
  fetch: typeof fetch;
  /** The current token, if any. */
  token: (() => string) | undefined;
  recover: boolean;
}

const OPTION_NAMES = new Set([
  'recover',
  'protocols',
  'transports',
  'livenessTimeout',
  'handshakeTimeout',
  'reconnect',
  'WebSocket',
  'fetch',
  'token',
]);
const RECONNECT_NAMES = new Set(Object.keys(DEFAULT_RECONNECT));
/** The default of `handshakeTimeout` (ms). */
const DEFAULT_HANDSHAKE_TIMEOUT = 30_000;
const TRANSPORTS = new Set(['websocket', 'sse']);

const isDelay = (value: unknown): value is number => typeof value === 'number' && value >= 0 && !Number.isNaN(value);

function checkReconnect(reconnect: ReconnectOptions): Required<ReconnectOptions> {
  for (const name of Object.keys(reconnect)) {
    if (!RECONNECT_NAMES.has(name))
      throw codedTypeError(`connect(): unknown reconnect option "${name}"`, ErrorCode.INVALID_OPTION);
  }
  const settings = { ...DEFAULT_RECONNECT, ...reconnect };
  for (const name of ['initialDelay', 'maxDelay', 'spread', 'maxRetries'] as const) {
    if (!isDelay(settings[name]))
      throw codedTypeError(`connect(): reconnect.${name} must be a number >= 0`, ErrorCode.INVALID_OPTION);
  }
  if (!(typeof settings.factor === 'number' && settings.factor >= 1))
    throw codedTypeError('connect(): reconnect.factor must be a number >= 1', ErrorCode.INVALID_OPTION);
  if (!(typeof settings.jitter === 'number' && settings.jitter >= 0 && settings.jitter <= 1)) {
    throw codedTypeError('connect(): reconnect.jitter must be a number from 0 to 1', ErrorCode.INVALID_OPTION);
  }
  return settings;
}

/** Checks `options`, rejecting unknown names, and fills in the defaults. */
export function resolveOptions(options: ConnectOptions): Settings {
  for (const name of Object.keys(options)) {
    if (!OPTION_NAMES.has(name)) throw codedTypeError(`connect(): unknown option "${name}"`, ErrorCode.INVALID_OPTION);
  }
  const protocols = typeof options.protocols === 'string' ? [options.protocols] : [...(options.protocols ?? [])];
  if (!protocols.every((protocol) => typeof protocol === 'string'))
    throw codedTypeError('connect(): protocols must be strings', ErrorCode.INVALID_OPTION);
  const transports = [...(options.transports ?? ['websocket', 'sse'])];
  if (transports.length === 0 || !transports.every((name) => TRANSPORTS.has(name))) {
    throw codedTypeError('connect(): transports must list "websocket", "sse" or both', ErrorCode.INVALID_OPTION);
  }
  const livenessTimeout = options.livenessTimeout ?? 3000;
  if (!(isDelay(livenessTimeout) && livenessTimeout > 0))
    throw codedTypeError('connect(): livenessTimeout must be a number > 0', ErrorCode.INVALID_OPTION);
  const handshakeTimeout = options.handshakeTimeout ?? Math.max(DEFAULT_HANDSHAKE_TIMEOUT, livenessTimeout);
  if (!(isDelay(handshakeTimeout) && handshakeTimeout >= livenessTimeout))
    throw codedTypeError('connect(): handshakeTimeout must be a number >= livenessTimeout', ErrorCode.INVALID_OPTION);
  const reconnect = options.reconnect === false ? false : checkReconnect(options.reconnect ?? {});
  // An explicit `WebSocket: undefined` means "no WebSocket", not "the default".
  const WebSocketClass =
    'WebSocket' in options ? options.WebSocket : (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  const fetchImpl = options.fetch ?? globalThis.fetch?.bind(globalThis);
  if (typeof fetchImpl !== 'function' && transports.includes('sse'))
    throw codedTypeError('connect(): no fetch for the SSE transport; pass options.fetch', ErrorCode.INVALID_OPTION);
  if (WebSocketClass !== undefined && typeof WebSocketClass !== 'function')
    throw codedTypeError('connect(): options.WebSocket must be a class', ErrorCode.INVALID_OPTION);
  const { token } = options;
  if (token !== undefined && typeof token !== 'string' && typeof token !== 'function') {
    throw codedTypeError('connect(): token must be a string or a function returning one', ErrorCode.INVALID_OPTION);
  }
  // A 101 that names no subprotocol fails in browsers that offered one (the token entry).
  if (token !== undefined && protocols.length === 0)
    throw codedTypeError('connect(): token needs at least one subprotocol in protocols', ErrorCode.INVALID_OPTION);
  return {
    protocols,
    transports,
    livenessTimeout,
    handshakeTimeout,
    reconnect,
    WebSocket: WebSocketClass,
    fetch: fetchImpl,
    token: typeof token === 'string' ? () => token : token,
    recover: options.recover === true,
  };
}
