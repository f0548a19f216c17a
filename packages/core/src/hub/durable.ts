/**
 * What a durable hub stores and offers: stream positions, entries, and the store recovery reads
 * them from (`redisHub({ durable })` implements it). The hub delivers entries; recovery/ decides
 * what a resuming connection gets.
 */

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

/** One delivery's envelope, framed once for all the recovering subscribers of a node. */
export interface EnvelopeCache {
  payload?: string | Buffer;
  frame?: Buffer;
}
