/** The `recovery` option and what a durable hub offers it (see ./index.ts for the protocol). */
import { ErrorCode, withCode } from '../errors.js';
import type { Hub } from '../hub/hub.js';

/** The endpoint's `recovery` option. */
export interface RecoveryOptions {
  /** How long (ms) after a connection ends it can still be resumed. Default 120 000 (2 minutes). */
  maxDisconnectionDuration?: number;
  /**
   * The most entries replayed per topic on a resume. A larger gap gets the "unrecoverable"
   * answer (reason `'too-far-behind'`), so that a resume never holds an unbounded backlog.
   * Default 10 000.
   */
  maxReplay?: number;
}

/** `recovery` with defaults applied. */
export interface ResolvedRecovery {
  maxDisconnectionDuration: number;
  maxReplay: number;
}

/** A place in a topic's stream: an entry id and the stream's epoch. */
export interface StreamPosition {
  /** `<ms>-<seq>`, or `'0-0'` before the first entry. */
  id: string;
  /** Changes when the stream is reset (lost or deleted); `''` before the stream exists. */
  epoch: string;
  /** How many entries the stream held up to this one, since its epoch began. */
  count: number;
}

/** One message of a durable topic. */
export interface DurableEntry extends StreamPosition {
  payload: string | Buffer;
  isBinary: boolean;
  /** The publishing connection's sender id (`senderIdOf` in `@switchyard/core/internal`), `''` for `hub.publish`. */
  sender: string;
}

/** Why a gap cannot be filled. */
export type UnrecoverableReason = 'expired' | 'reset' | 'trimmed' | 'too-far-behind';

/** What a durable hub offers recovery; `redisHub({ durable })` implements it. */
export interface DurableStore {
  /** This node's read position in `topic`: the last entry it delivered. Known once `whenSubscribed` resolves. */
  position(topic: string): StreamPosition | undefined;
  /** Whether every entry after `from` is still in the stream, or why not. */
  check(topic: string, from: StreamPosition): Promise<UnrecoverableReason | undefined>;
  /** Entries after id `after` up to id `until` (both ms-seq), oldest first, at most `count`. */
  range(topic: string, after: string, until: string, count: number): Promise<DurableEntry[]>;
  /** Keeps sessions alive for `ttl` ms: session id to the endpoint it belongs to. */
  keepSessions(sessions: ReadonlyMap<string, string>, ttl: number): Promise<void>;
  /** The endpoint a session belongs to, or undefined if it is unknown or expired. */
  findSession(id: string): Promise<string | undefined>;
  /**
   * False while the store is known to be unreachable (its connection is down), so that a resume
   * is refused before its handshake completes instead of failing after it. Without it, the store
   * counts as reachable and a failure shows only when a command fails.
   */
  reachable?(): boolean;
}

/** The durable store of a hub, if it has one. */
export function durableStoreOf(hub: Hub | undefined): DurableStore | undefined {
  const store = (hub as { durable?: unknown } | undefined)?.durable;
  return store !== null && typeof store === 'object' && typeof (store as DurableStore).range === 'function'
    ? (store as DurableStore)
    : undefined;
}

/** The option error core's own checks throw (docs/errors.md). */
function invalidRecovery(message: string): TypeError {
  return withCode(new TypeError(message), ErrorCode.INVALID_OPTION);
}

const RECOVERY_NAMES: ReadonlySet<string> = new Set(['maxDisconnectionDuration', 'maxReplay']);

/** Validates the `recovery` option against the hub it needs. */
export function resolveRecovery(
  option: RecoveryOptions | false | undefined,
  hub: Hub | undefined,
): ResolvedRecovery | false {
  if (option === undefined || option === false) return false;
  if (option === null || typeof option !== 'object') {
    throw invalidRecovery('websocket(): option "recovery" must be false or { maxDisconnectionDuration, maxReplay }');
  }
  for (const name of Object.keys(option)) {
    if (!RECOVERY_NAMES.has(name)) throw invalidRecovery(`websocket(): unknown option "recovery.${name}"`);
  }
  if (!durableStoreOf(hub)) {
    throw invalidRecovery(
      'websocket(): option "recovery" needs a durable hub, e.g. redisHub({ url, durable: { maxLen, ttl } })',
    );
  }
  const duration = option.maxDisconnectionDuration ?? 120_000;
  const maxReplay = option.maxReplay ?? 10_000;
  if (typeof duration !== 'number' || !(duration >= 1000) || !Number.isFinite(duration)) {
    throw invalidRecovery(
      `websocket(): option "recovery.maxDisconnectionDuration" must be at least 1000 (ms), got ${String(duration)}`,
    );
  }
  if (!Number.isInteger(maxReplay) || maxReplay < 1) {
    throw invalidRecovery(
      `websocket(): option "recovery.maxReplay" must be a positive integer, got ${String(maxReplay)}`,
    );
  }
  return { maxDisconnectionDuration: duration, maxReplay };
}
