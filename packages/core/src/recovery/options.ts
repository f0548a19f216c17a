/** The `recovery` option and what a durable hub offers it (see ./index.ts for the protocol). */
import { ErrorCode, withCode } from '../errors.js';
import type { Hub } from '../hub/hub.js';
import type { DurableStore } from '../hub/durable.js';

export type { DurableEntry, DurableStore, StreamPosition, UnrecoverableReason } from '../hub/durable.js';

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
