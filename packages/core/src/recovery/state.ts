/** Per-connection recovery state and the delivery of durable entries to it. */
import { randomBytes } from 'node:crypto';
import type { Transport } from '../connection/transport.js';
import { CloseCode, RecoveryWire } from '../protocol.js';
import type { Connection } from '../connection/connection.js';
import { transportOf } from '../connection/connection.js';
import { frameMessage } from '../internals/ws.js';
import type { Hub } from '../hub/hub.js';
import type { DurableEntry, DurableStore, ResolvedRecovery, StreamPosition, UnrecoverableReason } from './options.js';
import { compareIds } from './token.js';
import type { EnvelopeCache } from '../hub/durable.js';

export type { EnvelopeCache } from '../hub/durable.js';

/** Live entries held per topic while its backlog replays; beyond, the connection ends with 1013 and resumes again. */
const MAX_HELD = 10_000;

/** Per connection (keyed by its ws), while it is recoverable. */
export class RecoveryState {
  /** Positions from the token, replayed when the app subscribes to their topic. */
  readonly pending: Map<string, StreamPosition>;
  /**
   * Per topic, the position of the last entry this connection was given (sent, or skipped as
   * its own): only newer entries go out, and a newer one that does not follow it (a jump in the
   * count, or another epoch) is a gap the client is told about.
   */
  readonly sent = new Map<string, StreamPosition>();
  /** Topics whose backlog is replaying: the live entries that arrive meanwhile. */
  readonly held = new Map<string, DurableEntry[]>();
  unrecoverable: Array<{ topic: string; reason: UnrecoverableReason }> = [];
  /** The subscriptions made during `open`, until the session frame has gone out. */
  starting: Array<Promise<void>> | undefined = [];

  constructor(
    readonly ws: Transport,
    readonly session: string,
    readonly recovered: boolean,
    pending: Map<string, StreamPosition>,
    readonly store: DurableStore,
    readonly hub: Hub,
    readonly settings: ResolvedRecovery,
  ) {
    this.pending = pending;
  }
}

export const states = new WeakMap<object, RecoveryState>();
/** Sender ids of connections that published on a durable hub, so that they don't get their own messages. */
const senders = new WeakMap<object, string>();

/**
 * The id a durable hub stamps on the entries a connection publishes: its session id when it is
 * recoverable (so that a replay skips them on another node too), otherwise a random one.
 */
export function senderIdOf(connection: Connection<any, any, any> | undefined): string {
  if (!connection) return '';
  const state = states.get(transportOf(connection));
  if (state) return state.session;
  let id = senders.get(connection);
  if (id === undefined) senders.set(connection, (id = randomBytes(12).toString('base64url')));
  return id;
}

/** `ws.recovered`: whether this connection resumed a session. */
export function isRecovered(ws: object): boolean {
  return states.get(ws)?.recovered ?? false;
}

export function control(ws: Transport, kind: string, body: unknown): void {
  if (ws.readyState === 1) ws.send(`${RecoveryWire.CONTROL}${kind}${JSON.stringify(body)}`, { binary: false });
}

function envelope(topic: string, entry: StreamPosition, payload: string | Buffer, isBinary: boolean): string | Buffer {
  const head = `${RecoveryWire.MESSAGE}${JSON.stringify([topic, entry.id, entry.epoch, entry.count])}\n`;
  return isBinary ? Buffer.concat([Buffer.from(head), payload as Buffer]) : head + (payload as string);
}

/**
 * Delivers one entry of a durable topic to `subscriber`, if recovery or sender exclusion
 * concerns it: true when handled (sent, held or skipped), false for a plain delivery.
 */
export function deliverDurable(
  subscriber: Connection<any, any, any>,
  topic: string,
  entry: DurableEntry,
  cache: EnvelopeCache,
): boolean {
  const state = states.get(transportOf(subscriber));
  if (!state) return entry.sender !== '' && senders.get(subscriber) === entry.sender;
  const held = state.held.get(topic);
  if (held) {
    if (held.length >= MAX_HELD) {
      // The replay fell this far behind live traffic: the client resumes again, from what it got.
      state.held.delete(topic);
      subscriber.close(CloseCode.TRY_AGAIN_LATER, 'Replay fell behind; resume again');
    } else {
      held.push(entry);
    }
    return true;
  }
  sendEntry(subscriber, state, topic, entry, cache);
  return true;
}

export function sendEntry(
  connection: Connection<any, any, any>,
  state: RecoveryState,
  topic: string,
  entry: DurableEntry,
  cache?: EnvelopeCache,
): void {
  const last = state.sent.get(topic);
  // Never back before what the client has: a node whose reader lags behind the client's
  // position delivers entries the client already got from another node.
  if (last !== undefined && compareIds(entry.id, last.id) <= 0) return;
  const gap = last && gapBetween(last, entry);
  // No position: the client keeps its own, so a resume after a drop here asks again and is told again.
  if (gap) control(state.ws, 'unrecoverable', { topic, reason: gap });
  state.sent.set(topic, { id: entry.id, epoch: entry.epoch, count: entry.count });
  // A connection's own publishes move its position but are not sent back to it.
  if (entry.sender === state.session) return;
  const payload = cache?.payload ?? envelope(topic, entry, entry.payload, entry.isBinary);
  const frame = cache?.frame ?? frameMessage(payload, entry.isBinary);
  if (cache) {
    cache.payload = payload;
    cache.frame = frame;
  }
  connection.sendFrame(frame, payload, entry.isBinary);
}

/**
 * Why `entry` does not directly follow `last` in its topic, if it does not. Counts are
 * consecutive within an epoch, so a jump means entries were trimmed before this node read them
 * (`maxLen` under a burst, or a reader held up); another epoch, or a count that went back, means
 * the stream was lost (Redis restarted without, or with only part of, its data).
 */
function gapBetween(last: StreamPosition, entry: StreamPosition): UnrecoverableReason | undefined {
  // Before the stream existed: its first entries have this epoch.
  const epoch = last.epoch === '' && last.count === 0 ? entry.epoch : last.epoch;
  if (entry.epoch !== epoch || entry.count <= last.count) return 'reset';
  return entry.count > last.count + 1 ? 'trimmed' : undefined;
}
