/** The resume token a client presents, and stream ids. */
import { RecoveryWire } from '../protocol.js';
import type { StreamPosition } from './options.js';

/**
 * Compares two decimal numbers without leading zeros, `a[aFrom, aTo)` and `b[bFrom, bTo)`: the
 * longer is larger, and of two as long, the first digit that differs decides.
 */
function compareDigits(a: string, aFrom: number, aTo: number, b: string, bFrom: number, bTo: number): number {
  const length = aTo - aFrom;
  if (length !== bTo - bFrom) return length - (bTo - bFrom);
  for (let i = 0; i < length; i++) {
    const difference = a.charCodeAt(aFrom + i) - b.charCodeAt(bFrom + i);
    if (difference !== 0) return difference < 0 ? -1 : 1;
  }
  return 0;
}

/**
 * Compares two stream ids (`<ms>-<seq>`; a missing seq counts as 0). Without allocating: a mass
 * resume compares ids for every entry it replays and every page it looks up, millions of times.
 */
export function compareIds(a: string, b: string): number {
  if (a === b) return 0;
  let aDash = a.indexOf('-');
  let bDash = b.indexOf('-');
  if (aDash === -1) aDash = a.length;
  if (bDash === -1) bDash = b.length;
  const ms = compareDigits(a, 0, aDash, b, 0, bDash);
  if (ms !== 0) return ms;
  // The seq runs to the next dash, as split('-') would cut it.
  const aEnd = aDash < a.length ? (a.indexOf('-', aDash + 1) + 1 || a.length + 1) - 1 : aDash;
  const bEnd = bDash < b.length ? (b.indexOf('-', bDash + 1) + 1 || b.length + 1) - 1 : bDash;
  // No seq at all: '0'.
  const aSeq = aEnd > aDash ? a : '0';
  const bSeq = bEnd > bDash ? b : '0';
  return compareDigits(
    aSeq,
    aEnd > aDash ? aDash + 1 : 0,
    aEnd > aDash ? aEnd : 1,
    bSeq,
    bEnd > bDash ? bDash + 1 : 0,
    bEnd > bDash ? bEnd : 1,
  );
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
