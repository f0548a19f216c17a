import { STATUS_CODES } from 'node:http';

/** Headers attached to an HTTP rejection of the handshake. */
export type RejectionHeaders = Record<string, string | number | readonly string[]>;

/**
 * An HTTP answer to a handshake that will not be upgraded. Throw (or return) one from the
 * `upgrade` hook; switchyard writes it as a real HTTP response and never sends a 101.
 */
export class HandshakeRejection extends Error {
  /** The HTTP status to answer with (4xx or 5xx). */
  readonly status: number;
  /** Extra response headers, e.g. `WWW-Authenticate`. */
  readonly headers: RejectionHeaders;
  /** Stable machine-readable code. */
  readonly code = 'ERR_SWITCHYARD_HANDSHAKE_REJECTED';

  constructor(status: number, message?: string, headers: RejectionHeaders = {}) {
    if (!Number.isInteger(status) || status < 400 || status > 599) {
      throw new TypeError(`reject(): status must be an integer from 400 to 599, got ${String(status)}`);
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
