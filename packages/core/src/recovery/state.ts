/** Per-connection recovery state and the delivery of durable entries to it. */
import { randomBytes } from 'node:crypto';
import type { Transport } from '../transport.js';
import { CloseCode, RecoveryWire } from '../protocol.js';
import type { Connection } from '../connection.js';
import { kWs } from '../connection-keys.js';
import { frameMessage } from '../frame.js';
import type { Hub } from '../hub.js';
import type { DurableEntry, DurableStore, ResolvedRecovery, StreamPosition, UnrecoverableReason } from './options.js';
import { compareIds } from './token.js';

/** Live entries held per topic while its backlog replays; beyond, the connection ends with 1013 and resumes again. */
const MAX_HELD = 10_000;

/** Per connection (keyed by its ws), while it is recoverable. */
export class RecoveryState {
  /** Positions from the token, replayed when the app subscribes to their topic. */
  readonly pending: Map<string, StreamPosition>;
  /** The last entry id sent per topic: live delivery sends only newer ones. */
  readonly sent = new Map<string, string>();
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
  const state = states.get(connection[kWs]);
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

/** One delivery's envelope, framed once for all the recovering subscribers of a node. */
export interface EnvelopeCache {
  payload?: string | Buffer;
  frame?: Buffer;
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
  const state = states.get(subscriber[kWs]);
  if (!state) return entry.sender !== '' && senders.get(subscriber) === entry.sender;
  if (entry.sender === state.session) return true;
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
  if (last !== undefined && compareIds(entry.id, last) <= 0) return;
  state.sent.set(topic, entry.id);
  const payload = cache?.payload ?? envelope(topic, entry, entry.payload, entry.isBinary);
  const frame = cache?.frame ?? frameMessage(payload, entry.isBinary);
  if (cache) {
    cache.payload = payload;
    cache.frame = frame;
  }
  connection.sendFrame(frame, payload, entry.isBinary);
}
