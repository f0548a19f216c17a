import { STATUS_CODES } from 'node:http';

/**
 * The stable `code` of every error switchyard throws or rejects with, as ws's carry `WS_ERR_*`:
 * match on the code, never on the message (docs/errors.md lists them). The errors stay the
 * built-in classes (`TypeError` for a wrong argument, `RangeError` for a size, `Error`
 * otherwise) with this `code` added, the way Node's own errors are.
 */
export const ErrorCode = {
  /** A `websocket()`/`createEndpoint()` option is unknown or has the wrong type. */
  INVALID_OPTION: 'SWITCHYARD_ERR_INVALID_OPTION',
  /** `reject()` got a status outside 400-599. */
  INVALID_STATUS: 'SWITCHYARD_ERR_INVALID_STATUS',
  /** What `reject()` builds: an HTTP answer instead of a 101, not a failure. */
  HANDSHAKE_REJECTED: 'SWITCHYARD_ERR_HANDSHAKE_REJECTED',
  /** `fallback.owner()` returned something other than a string. */
  INVALID_OWNER: 'SWITCHYARD_ERR_INVALID_OWNER',
  /** A second `for await` loop over the same connection. */
  ALREADY_ITERATING: 'SWITCHYARD_ERR_ALREADY_ITERATING',
  /** `ws.ping()` on a connection that is not open. */
  NOT_OPEN: 'SWITCHYARD_ERR_NOT_OPEN',
  /** `ws.ping()` with more than 125 bytes of data. */
  PING_TOO_LONG: 'SWITCHYARD_ERR_PING_TOO_LONG',
  /** The connection closed before the pong of a `ws.ping()` came. */
  CLOSED_BEFORE_PONG: 'SWITCHYARD_ERR_CLOSED_BEFORE_PONG',
  /** `injectWebSocket()` got a path that does not start with `/`. */
  INVALID_PATH: 'SWITCHYARD_ERR_INVALID_PATH',
  /** `injectWebSocket()` on a Node without `stream.duplexPair` (before 20.17). */
  UNSUPPORTED_RUNTIME: 'SWITCHYARD_ERR_UNSUPPORTED_RUNTIME',
  /** `injectWebSocket()`: the app answered the handshake with an HTTP status instead of a 101. */
  UNEXPECTED_RESPONSE: 'SWITCHYARD_ERR_UNEXPECTED_RESPONSE',
  /** The Fastify plugin registered a second time in the same scope or a parent. */
  ALREADY_REGISTERED: 'SWITCHYARD_ERR_ALREADY_REGISTERED',
  /** `upgradeWebSocket(c, events)` of `@switchyard/hono` on a request that is no handshake (as Hono's own throws). */
  NOT_A_HANDSHAKE: 'SWITCHYARD_ERR_NOT_A_HANDSHAKE',
  /** A Fastify route with a `websocket` option on a method other than GET. */
  INVALID_METHOD: 'SWITCHYARD_ERR_INVALID_METHOD',
  /** `parseProtocols()` got a malformed `Sec-WebSocket-Protocol` value (a `SyntaxError`). */
  INVALID_SUBPROTOCOL: 'SWITCHYARD_ERR_INVALID_SUBPROTOCOL',
  /**
   * With `schema`: a message nested deeper than `maxDepth`. Reported to the `error` hook and the
   * `switchyard:connection:error` channel (never logged); the connection closes with 1007.
   */
  JSON_TOO_DEEP: 'SWITCHYARD_ERR_JSON_TOO_DEEP',
} as const;

/** One of the codes of {@link ErrorCode}. */
export type ErrorCodeName = (typeof ErrorCode)[keyof typeof ErrorCode];

/**
 * Gives a built-in error its switchyard code: an own property, not enumerable, so that an error
 * still deep-equals the plain `TypeError` with the same message that code and tests compare to.
 */
export function withCode<E extends Error>(error: E, code: ErrorCodeName): E & { code: ErrorCodeName } {
  return Object.defineProperty(error, 'code', {
    value: code,
    writable: true,
    configurable: true,
    enumerable: false,
  }) as E & { code: ErrorCodeName };
}

/** Headers attached to an HTTP rejection of the handshake. */
export type RejectionHeaders = Record<string, string | number | readonly string[]>;

/**
 * An HTTP answer to a handshake that will not be upgraded. Throw (or return) one from the
 * `upgrade` hook; switchyard writes it as a real HTTP response and never sends a 101.
 */
export class HandshakeRejection extends Error {
  /** The HTTP status to answer with (4xx or 5xx). */
  readonly status: number;
  /**
   * Extra response headers, e.g. `WWW-Authenticate`. A `Content-Type` among them replaces the
   * default `text/plain; charset=utf-8`, and the message is then the body exactly as given (a
   * JSON error, say); without one a newline ends the text body. `Connection` and
   * `Content-Length` are switchyard's own and ignored here.
   */
  readonly headers: RejectionHeaders;
  /** Stable machine-readable code. */
  readonly code = ErrorCode.HANDSHAKE_REJECTED;

  constructor(status: number, message?: string, headers: RejectionHeaders = {}) {
    if (!Number.isInteger(status) || status < 400 || status > 599) {
      throw withCode(
        new TypeError(`reject(): status must be an integer from 400 to 599, got ${String(status)}`),
        ErrorCode.INVALID_STATUS,
      );
    }
    super(message ?? STATUS_CODES[status] ?? 'Rejected');
    this.name = 'HandshakeRejection';
    this.status = status;
    this.headers = headers;
  }
}

/** Builds a {@link HandshakeRejection}: `throw reject(401, 'Unauthorized', { 'WWW-Authenticate': 'Bearer' })`. */
export function reject(status: number, message?: string, headers?: RejectionHeaders): HandshakeRejection {
  return new HandshakeRejection(status, message, headers);
}

/** True when `value` is a rejection built by {@link reject}. */
export function isHandshakeRejection(value: unknown): value is HandshakeRejection {
  return value instanceof HandshakeRejection;
}
