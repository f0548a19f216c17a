/**
 * The wire vocabulary switchyard's server, client and CLI share: close codes, the check for a
 * code that may be sent, and the names of the fallback protocol (docs/fallback-protocol.md).
 *
 * This module imports nothing, not even from Node: `@switchyard/client` compiles this very file
 * (packages/client/src/protocol.ts is a symlink to it) so that the client keeps no runtime
 * dependency and its dist still loads in a browser as plain ES modules.
 */

/**
 * WebSocket close codes (RFC 6455 §7.4.1) by name, so that no bare number is sprinkled through
 * the code. 1005, 1006 and 1015 are reported locally and must never be sent on the wire.
 */
export const CloseCode = {
  /** The purpose of the connection has been fulfilled. */
  NORMAL: 1000,
  /** The server is going down or the page navigated away. */
  GOING_AWAY: 1001,
  /** The peer broke the protocol (bad frame, unmasked client frame, reserved bits...). */
  PROTOCOL_ERROR: 1002,
  /** A data type the endpoint can't accept. */
  UNSUPPORTED_DATA: 1003,
  /** Reported when a close frame carried no code; never sent. */
  NO_STATUS: 1005,
  /** Reported when the connection dropped without a close frame; never sent. */
  ABNORMAL: 1006,
  /** A text message was not valid UTF-8. */
  INVALID_PAYLOAD: 1007,
  /** A policy was violated, e.g. a slow consumer over `maxBufferedAmount`. */
  POLICY_VIOLATION: 1008,
  /** A message was larger than `maxPayload`. */
  MESSAGE_TOO_BIG: 1009,
  /** The client wanted an extension the server didn't negotiate (client-sent). */
  MANDATORY_EXTENSION: 1010,
  /** A handler threw or rejected. */
  INTERNAL_ERROR: 1011,
  /** The server is restarting; reconnect. */
  SERVICE_RESTART: 1012,
  /** Overloaded; reconnect later. */
  TRY_AGAIN_LATER: 1013,
  /** A gateway got a bad answer upstream. */
  BAD_GATEWAY: 1014,
  /** Reported when the TLS handshake failed; never sent. */
  TLS_HANDSHAKE: 1015,
  /** switchyard: no message either way for `idleTimeout`. Not reconnected by `@switchyard/client`. */
  IDLE_TIMEOUT: 4000,
  /** switchyard: `maxLifetime` or the `upgrade` hook's `expiresAt` passed; reconnect and authenticate again. */
  EXPIRED: 4001,
} as const;

/** One of the named close codes. */
export type CloseCodeName = keyof typeof CloseCode;

/**
 * True for a code that may go in a close frame (RFC 6455 §7.4): 1000-1014 except 1004, 1005 and
 * 1006, and the registered and private ranges 3000-4999. 1005, 1006 and 1015 are only reported.
 */
export function isSendableCloseCode(code: number): boolean {
  return (
    Number.isInteger(code) &&
    ((code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) ||
      (code >= 3000 && code <= 4999))
  );
}

/**
 * The text frame a switchyard endpoint sends first when the client asked for it (`__sy=1`): it
 * proves frames really flow, which a 101 through a frame-dropping proxy does not.
 */
export const LIVENESS_FRAME = '\u0000sy:open';

/**
 * The request header that carries the session id on the client's POSTs and resumes, so that the
 * id stays out of URLs. Header names are case-insensitive; Node hands them over lower-cased.
 */
export const SESSION_HEADER = 'Switchyard-Session';

/** The query parameters of the fallback protocol; the app never sees them in `request.url`. */
export const FallbackParam = {
  /** `1` asks for {@link LIVENESS_FRAME}; `sse` opens a stream; `post` carries frames. */
  MODE: '__sy',
  /** The session id, for EventSource, which cannot set {@link SESSION_HEADER}. */
  SESSION: '__sy_session',
  /** The offered subprotocols, comma-separated (EventSource cannot set headers). */
  PROTOCOLS: '__sy_protocols',
} as const;

/** The values of {@link FallbackParam.MODE}. */
export const FallbackMode = { LIVE: '1', SSE: 'sse', POST: 'post' } as const;

/** The SSE event names of a session's stream; a plain message has no event name. */
export const SseEvent = {
  /** The first event: `{ session, protocol, heartbeat }`. */
  OPEN: 'open',
  /** A binary message, base64-encoded. */
  BINARY: 'binary',
  /** A ping, its payload base64-encoded; the client answers with a `pong` frame. */
  PING: 'ping',
  /** `{ code, reason }`: the session ended. */
  CLOSE: 'close',
} as const;

/** The kinds of the client's frames in a POST body (`[kind, ...]`). */
export const PostFrame = {
  /** `['t', text]` */
  TEXT: 't',
  /** `['b', base64]` */
  BINARY: 'b',
  /** `['pong', base64]` */
  PONG: 'pong',
  /** `['close', code, reason]` */
  CLOSE: 'close',
} as const;

/**
 * Resumable connections (docs/recovery.md). Frames of the recovery protocol are text that starts
 * with {@link RecoveryWire.CONTROL}, a prefix the app must not use on a recoverable connection.
 */
export const RecoveryWire = {
  /** What every frame of the recovery protocol starts with; `session`, `position`, `unrecoverable` and `off` follow. */
  CONTROL: '\u0000sy:',
  /** A topic message: this, JSON `[topic, id, epoch, count]`, a newline, then the payload. */
  MESSAGE: '\u0000sy:m',
  /** The client's first message on a resuming WebSocket: this, then the JSON token. */
  RESUME: '\u0000sy:resume',
  /** The query flag (`=1`) that asks for a resume; a flag, never the token, which stays out of URLs. */
  RESUME_PARAM: '__sy_resume',
  /** The request header that carries the token (base64url JSON) on a new SSE session. */
  RESUME_HEADER: 'X-Switchyard-Resume',
} as const;
