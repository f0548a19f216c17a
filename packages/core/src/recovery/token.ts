/** The resume token a client presents, and stream ids. */
import { RecoveryWire } from '../protocol.js';
import type { StreamPosition } from './options.js';

/** Compares two stream ids (`<ms>-<seq>`). */
export function compareIds(a: string, b: string): number {
  const [am = '0', as = '0'] = a.split('-');
  const [bm = '0', bs = '0'] = b.split('-');
  if (am.length !== bm.length) return am.length - bm.length;
  if (am !== bm) return am < bm ? -1 : 1;
  if (as.length !== bs.length) return as.length - bs.length;
  return as === bs ? 0 : as < bs ? -1 : 1;
}

const ID = /^\d{1,20}-\d{1,20}$/;
/** The resume message: the prefix, then the JSON token. */
export const RESUME_PREFIX = RecoveryWire.RESUME;
/** A token is small: a session id and a few topics. Larger is refused with 1009. */
export const MAX_TOKEN_BYTES = 64 * 1024;

/** The resume token, as the client sends it. */
export interface Token {
  session: string | null;
  positions: Map<string, StreamPosition>;
}

/** Parses a resume message; a string says what is wrong with it. */
export function parseToken(text: string): Token | string {
  if (!text.startsWith(RESUME_PREFIX)) return 'the first message must be the resume token';
  let value: unknown;
  try {
    value = JSON.parse(text.slice(RESUME_PREFIX.length));
  } catch {
    return 'malformed resume token: not JSON';
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    return 'malformed resume token: expected an object';
  const { s, p } = value as { s?: unknown; p?: unknown };
  if (s !== null && !(typeof s === 'string' && /^[A-Za-z0-9_-]{1,64}$/.test(s)))
    return 'malformed resume token: bad session id';
  if (p === null || typeof p !== 'object' || Array.isArray(p)) return 'malformed resume token: expected positions';
  const positions = new Map<string, StreamPosition>();
  for (const [topic, position] of Object.entries(p as Record<string, unknown>)) {
    if (!Array.isArray(position) || position.length !== 3) return `malformed resume token: bad position for a topic`;
    const [id, epoch, count] = position as unknown[];
    if (
      typeof id !== 'string' ||
      !ID.test(id) ||
      typeof epoch !== 'string' ||
      epoch.length > 64 ||
      !Number.isSafeInteger(count) ||
      (count as number) < 0
    ) {
      return 'malformed resume token: bad position for a topic';
    }
    positions.set(topic, { id, epoch, count: count as number });
  }
  return { session: s, positions };
}

/** The header that carries a resume token on the SSE fallback (fetch can set headers; the value is base64url JSON). */
export const RESUME_HEADER = RecoveryWire.RESUME_HEADER.toLowerCase();
