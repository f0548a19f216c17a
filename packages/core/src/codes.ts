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
  /** A handler threw or rejected. */
  INTERNAL_ERROR: 1011,
} as const;

/** One of the named close codes. */
export type CloseCodeName = keyof typeof CloseCode;
