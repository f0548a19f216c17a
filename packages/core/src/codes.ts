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

/**
 * True for a code that may go in a close frame (RFC 6455 §7.4): 1000-1014 except 1004, 1005 and
 * 1006, and the registered and private ranges 3000-4999. 1005, 1006 and 1015 are only reported.
 */
export function isSendableCloseCode(code: number): boolean {
  return Number.isInteger(code) &&
    ((code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) || (code >= 3000 && code <= 4999));
}

/** One of the named close codes. */
export type CloseCodeName = keyof typeof CloseCode;
