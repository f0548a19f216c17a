/**
 * Resumable connections: the endpoint's `recovery` option, on a durable hub
 * (`redisHub({ durable })`).
 *
 * A durable hub keeps each topic in a stream whose entries have an id and an epoch (the epoch
 * changes when the stream is reset). A client that asks for recovery (the switchyard client's
 * `recover: true`: `__sy_resume=1` in the URL, a flag and never a secret) speaks first, with one
 * text message, `\0sy:resume` and a JSON token: its session id and, per topic, the last position
 * it was sent. The token travels in a message rather than a header because browsers cannot set
 * WebSocket headers, and not in the URL because URLs end up in access logs.
 *
 * The session lives in the hub's backend for `maxDisconnectionDuration` after the connection
 * ends (refreshed while it is open, so a crashed node's sessions survive it). It is not taken
 * by a resume: a client that gave up on a slow attempt and tried again finds it still there,
 * while the server may not have seen the first attempt end yet. The `open` hook runs after the token was checked, with
 * `ws.recovered` set. When the app subscribes to a topic the token names, the missed entries are
 * replayed first, then live delivery goes on, in stream order and without duplicates, because
 * a recovering connection only ever gets entries newer than the last one it was sent.
 *
 * Frames to a recovering connection (all text frames start with U+0000, a prefix the app must
 * not use on these connections):
 *   `\0sy:m` + JSON [topic, id, epoch] + `\n` + payload      a topic message (binary: same bytes)
 *   `\0sy:session` + JSON { id, recovered, unrecoverable }   once, after `open`
 *   `\0sy:position` + JSON { topic, id, epoch }              where a subscription starts
 *   `\0sy:unrecoverable` + JSON { topic, reason, id, epoch } a gap that can no longer be filled
 *   `\0sy:off` + JSON { topic }                              an unsubscription
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { WebSocket } from 'ws';
import { CloseCode } from './codes.js';
import type { Connection } from './connection.js';
import { kWs, sendFrame } from './connection.js';
import { frameMessage } from './frame.js';
import type { Hub } from './hub.js';

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
  /** The publishing connection's sender id (see {@link senderIdOf}), `''` for `hub.publish`. */
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
}

/** The durable store of a hub, if it has one. */
export function durableStoreOf(hub: Hub | undefined): DurableStore | undefined {
  const store = (hub as { durable?: unknown } | undefined)?.durable;
  return store !== null && typeof store === 'object' && typeof (store as DurableStore).range === 'function' ? store as DurableStore : undefined;
}

const RECOVERY_NAMES: ReadonlySet<string> = new Set(['maxDisconnectionDuration', 'maxReplay']);

/** Validates the `recovery` option against the hub it needs. */
export function resolveRecovery(option: RecoveryOptions | false | undefined, hub: Hub | undefined): ResolvedRecovery | false {
  if (option === undefined || option === false) return false;
  if (option === null || typeof option !== 'object') {
    throw new TypeError('websocket(): option "recovery" must be false or { maxDisconnectionDuration, maxReplay }');
  }
  for (const name of Object.keys(option)) {
    if (!RECOVERY_NAMES.has(name)) throw new TypeError(`websocket(): unknown option "recovery.${name}"`);
  }
  if (!durableStoreOf(hub)) {
    throw new TypeError('websocket(): option "recovery" needs a durable hub, e.g. redisHub({ url, durable: { maxLen, ttl } })');
  }
  const duration = option.maxDisconnectionDuration ?? 120_000;
  const maxReplay = option.maxReplay ?? 10_000;
  if (typeof duration !== 'number' || !(duration >= 1000) || !Number.isFinite(duration)) {
    throw new TypeError(`websocket(): option "recovery.maxDisconnectionDuration" must be at least 1000 (ms), got ${String(duration)}`);
  }
  if (!Number.isInteger(maxReplay) || maxReplay < 1) {
    throw new TypeError(`websocket(): option "recovery.maxReplay" must be a positive integer, got ${String(maxReplay)}`);
  }
  return { maxDisconnectionDuration: duration, maxReplay };
}

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
export const RESUME_PREFIX = '\u0000sy:resume';
/** A token is small: a session id and a few topics. Larger is refused with 1009. */
export const MAX_TOKEN_BYTES = 64 * 1024;
/** How long a client that announced a resume has to send its token. */
const TOKEN_TIMEOUT = 10_000;
/** Live entries held per topic while its backlog replays; beyond, the connection ends with 1013 and resumes again. */
const MAX_HELD = 10_000;
/** Replay pauses while this many bytes wait in the socket. */
const REPLAY_BUFFER = 1024 * 1024;
const REPLAY_PAGE = 200;

/** The resume token, as the client sends it. */
interface Token {
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
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return 'malformed resume token: expected an object';
  const { s, p } = value as { s?: unknown; p?: unknown };
  if (s !== null && !(typeof s === 'string' && /^[A-Za-z0-9_-]{1,64}$/.test(s))) return 'malformed resume token: bad session id';
  if (p === null || typeof p !== 'object' || Array.isArray(p)) return 'malformed resume token: expected positions';
  const positions = new Map<string, StreamPosition>();
  for (const [topic, position] of Object.entries(p as Record<string, unknown>)) {
    if (!Array.isArray(position) || position.length !== 3) return `malformed resume token: bad position for a topic`;
    const [id, epoch, count] = position as unknown[];
    if (typeof id !== 'string' || !ID.test(id) || typeof epoch !== 'string' || epoch.length > 64 ||
        !Number.isSafeInteger(count) || (count as number) < 0) {
      return 'malformed resume token: bad position for a topic';
    }
    positions.set(topic, { id, epoch, count: count as number });
  }
  return { session: s, positions };
}

/** Per connection (keyed by its ws), while it is recoverable. */
class RecoveryState {
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
    readonly ws: WebSocket,
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

const states = new WeakMap<object, RecoveryState>();
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

function control(ws: WebSocket, kind: string, body: unknown): void {
  if (ws.readyState === 1) ws.send(`\u0000sy:${kind}${JSON.stringify(body)}`);
}

function envelope(topic: string, entry: StreamPosition, payload: string | Buffer, isBinary: boolean): string | Buffer {
  const head = `\u0000sy:m${JSON.stringify([topic, entry.id, entry.epoch, entry.count])}\n`;
  return isBinary ? Buffer.concat([Buffer.from(head), payload as Buffer]) : head + (payload as string);
}

/** One delivery's envelope, framed once for all the recovering subscribers of a node. */
export interface EnvelopeCache { payload?: string | Buffer; frame?: Buffer }

/**
 * Delivers one entry of a durable topic to `subscriber`, if recovery or sender exclusion
 * concerns it: true when handled (sent, held or skipped), false for a plain delivery.
 */
export function deliverDurable(subscriber: Connection<any, any, any>, topic: string, entry: DurableEntry, cache: EnvelopeCache): boolean {
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

function sendEntry(connection: Connection<any, any, any>, state: RecoveryState, topic: string, entry: DurableEntry, cache?: EnvelopeCache): void {
  const last = state.sent.get(topic);
  if (last !== undefined && compareIds(entry.id, last) <= 0) return;
  state.sent.set(topic, entry.id);
  const payload = cache?.payload ?? envelope(topic, entry, entry.payload, entry.isBinary);
  const frame = cache?.frame ?? frameMessage(payload, entry.isBinary);
  if (cache) {
    cache.payload = payload;
    cache.frame = frame;
  }
  sendFrame(connection, frame, payload, entry.isBinary);
}

/** The recovery host: what an endpoint gives this module. */
export interface RecoveryHost {
  readonly hub: Hub;
  readonly options: { readonly recovery: ResolvedRecovery | false };
}

/** Live sessions per store and window, refreshed together. */
const keepers = new WeakMap<DurableStore, Map<number, SessionKeeper>>();

class SessionKeeper {
  /** Session id to its endpoint and how many connections hold it on this node. */
  readonly #sessions = new Map<string, { endpoint: string; holders: number }>();
  #timer: ReturnType<typeof setInterval> | undefined;

  constructor(readonly store: DurableStore, readonly ttl: number) {}

  add(id: string, endpoint: string): void {
    const held = this.#sessions.get(id);
    if (held) held.holders++;
    else this.#sessions.set(id, { endpoint, holders: 1 });
    this.#save(new Map([[id, endpoint]]));
    // Refreshed at a third of the window, so that a crashed node's sessions outlive it by at least two thirds of it.
    this.#timer ??= setInterval(() => this.#save(new Map([...this.#sessions].map(([key, value]) => [key, value.endpoint]))), Math.max(500, this.ttl / 3)).unref();
  }

  remove(id: string): void {
    const held = this.#sessions.get(id);
    if (!held) return;
    // The window starts now; a newer connection of the same session (one the client already
    // replaced this one with) keeps it refreshed.
    if (--held.holders === 0) this.#sessions.delete(id);
    this.#save(new Map([[id, held.endpoint]]));
    if (this.#sessions.size === 0) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
  }

  #save(sessions: ReadonlyMap<string, string>): void {
    if (sessions.size > 0) this.store.keepSessions(sessions, this.ttl).catch(() => {});
  }
}

function keeperOf(store: DurableStore, ttl: number): SessionKeeper {
  let byWindow = keepers.get(store);
  if (!byWindow) keepers.set(store, (byWindow = new Map()));
  let keeper = byWindow.get(ttl);
  if (!keeper) byWindow.set(ttl, (keeper = new SessionKeeper(store, ttl)));
  return keeper;
}

/** The endpoint a session belongs to: its path. */
function endpointKey(path: string): string {
  return path.split('?', 1)[0]!;
}

/**
 * For a new WebSocket: undefined when no resume was asked for (the connection opens at once and
 * is not recoverable). Otherwise waits for the token, checks it, and resolves with a function to
 * call once `open` has run (it sends the session frame and the messages that came after the
 * token), or with undefined when the socket ended meanwhile.
 */
export function awaitResume(host: RecoveryHost, ws: WebSocket, req: IncomingMessage, path: string): Promise<(() => void) | undefined> | undefined {
  const settings = host.options.recovery;
  if (!settings || !/[?&]__sy_resume=1(?:&|$)/.test(req.url ?? '')) return undefined;
  const later: Array<[Buffer, boolean]> = [];
  return new Promise((resolve) => {
    let token: Token | undefined;
    const timer = setTimeout(() => fail(CloseCode.POLICY_VIOLATION, 'No resume token'), TOKEN_TIMEOUT);
    const done = (): void => {
      clearTimeout(timer);
      ws.off('message', onMessage);
      ws.off('close', onClose);
    };
    const fail = (code: number, reason: string): void => {
      done();
      if (ws.readyState === 1) ws.close(code, reason);
      resolve(undefined);
    };
    const onClose = (): void => {
      done();
      resolve(undefined);
    };
    const onMessage = (data: Buffer, isBinary: boolean): void => {
      if (token) {
        later.push([data, isBinary]);
        return;
      }
      if (data.length > MAX_TOKEN_BYTES) return fail(CloseCode.MESSAGE_TOO_BIG, 'Resume token too large');
      if (isBinary) return fail(CloseCode.POLICY_VIOLATION, 'The resume token must be text');
      const parsed = parseToken(data.toString());
      if (typeof parsed === 'string') return fail(CloseCode.POLICY_VIOLATION, parsed.slice(0, 120));
      token = parsed;
      void restoreSession(host, ws, parsed, path).then((state) => {
        done();
        if (!state || ws.readyState !== 1) return resolve(undefined);
        resolve(() => afterOpen(state));
      }, () => fail(CloseCode.TRY_AGAIN_LATER, 'Cannot reach the session store'));
    };
    ws.on('message', onMessage);
    ws.on('close', onClose);
  });

  function afterOpen(state: RecoveryState): void {
    for (const [data, isBinary] of later.splice(0)) ws.emit('message', data, isBinary);
    sessionReady(state);
  }
}

/** After `open`: the session frame, once the subscriptions made in `open` have their positions. */
function sessionReady(state: RecoveryState): void {
  // Positions the app did not subscribe to again in `open` are dropped: a later subscription
  // starts live, as it would without recovery.
  state.pending.clear();
  // The session frame goes out once every subscription made in `open` has its position (and
  // its replay is done): from then on the client holds everything it needs to resume.
  const starting = state.starting ?? [];
  state.starting = undefined;
  void Promise.allSettled(starting).then(() => {
    control(state.ws, 'session', { id: state.session, recovered: state.recovered, unrecoverable: state.unrecoverable });
  });
}

/** Takes the token's session from the store and makes `ws` recoverable; undefined if it ended meanwhile. */
async function restoreSession(host: RecoveryHost, ws: WebSocket, parsed: Token, path: string): Promise<RecoveryState | undefined> {
  const settings = host.options.recovery as ResolvedRecovery;
  const store = durableStoreOf(host.hub)!;
  const key = endpointKey(path);
  const owner = parsed.session === null ? undefined : await store.findSession(parsed.session);
  if (ws.readyState !== 1) return undefined;
  // A token of another endpoint, or an unknown or expired one, resumes nothing.
  const recovered = owner === key;
  const session = recovered ? parsed.session! : randomBytes(16).toString('base64url');
  const state = new RecoveryState(ws, session, recovered, recovered ? parsed.positions : new Map(), store, host.hub, settings);
  if (!recovered && parsed.session !== null) {
    state.unrecoverable = [...parsed.positions.keys()].map((topic) => ({ topic, reason: 'expired' }));
  }
  states.set(ws, state);
  const keeper = keeperOf(store, settings.maxDisconnectionDuration);
  keeper.add(session, key);
  ws.once('close', () => keeper.remove(session));
  return state;
}

/** The header that carries a resume token on the SSE fallback (fetch can set headers; the value is base64url JSON). */
export const RESUME_HEADER = 'x-switchyard-resume';

/**
 * For a new SSE session: undefined without recovery or the header; a string when the header
 * is malformed (answer 400); otherwise a function to run before `open` (restores the session)
 * that resolves with the one to run after it.
 */
export function sseResume(host: RecoveryHost, req: IncomingMessage): string | undefined | ((ws: WebSocket, path: string) => Promise<(() => void) | undefined>) {
  const header = req.headers[RESUME_HEADER];
  if (!host.options.recovery || typeof header !== 'string') return undefined;
  if (header.length > MAX_TOKEN_BYTES * 2) return 'Resume token too large';
  const parsed = parseToken(RESUME_PREFIX + Buffer.from(header, 'base64url').toString());
  if (typeof parsed === 'string') return parsed;
  return async (ws, path) => {
    const state = await restoreSession(host, ws, parsed, path);
    return state && (() => sessionReady(state));
  };
}

/** A recoverable connection subscribed to `topic`: replay what it missed, or tell it where it starts. */
export function subscribed(connection: Connection<any, any, any>, topic: string): void {
  const state = states.get(connection[kWs]);
  if (!state) return;
  const from = state.pending.get(topic);
  state.pending.delete(topic);
  state.held.set(topic, []);
  const started = start(connection, state, topic, from).catch(() => {
    // The store failed mid-replay: the client resumes again, from what it was sent.
    state.held.delete(topic);
    connection.close(CloseCode.TRY_AGAIN_LATER, 'Replay failed; resume again');
  });
  state.starting?.push(started);
}

/** A recoverable connection left `topic`: its client forgets the position. */
export function unsubscribed(connection: Connection<any, any, any>, topic: string): void {
  const state = states.get(connection[kWs]);
  if (!state) return;
  state.sent.delete(topic);
  state.held.delete(topic);
  control(state.ws, 'off', { topic });
}

async function start(connection: Connection<any, any, any>, state: RecoveryState, topic: string, from: StreamPosition | undefined): Promise<void> {
  const { hub, store, ws } = state;
  let at = store.position(topic);
  if (!at) {
    await hub.whenSubscribed(topic).catch(() => {});
    at = store.position(topic);
  }
  const still = (): boolean => ws.readyState === 1 && state.held.has(topic);
  if (!at) {
    // The backend is unreachable: live delivery starts whenever it is back.
    state.held.delete(topic);
    if (from) {
      control(ws, 'unrecoverable', { topic, reason: 'expired', id: from.id, epoch: from.epoch, count: from.count });
    }
    return;
  }
  if (from) {
    const reason = from.epoch === at.epoch || (from.id === '0-0' && from.epoch === '')
      ? await store.check(topic, from)
      : 'reset';
    if (!still()) return;
    const gap = at.count - from.count;
    const why = reason ?? (gap > state.settings.maxReplay ? 'too-far-behind' : undefined);
    if (why) {
      control(ws, 'unrecoverable', { topic, reason: why, id: at.id, epoch: at.epoch, count: at.count });
    } else {
      state.sent.set(topic, from.id);
      let after = from.id;
      while (compareIds(after, at.id) < 0) {
        const page = await store.range(topic, after, at.id, REPLAY_PAGE);
        if (!still()) return;
        if (page.length === 0) break;
        for (const entry of page) {
          if (entry.sender !== state.session) sendEntry(connection, state, topic, entry);
          after = entry.id;
        }
        state.sent.set(topic, after);
        // A reader that does not read holds the replay, not the server's memory.
        while (ws.readyState === 1 && ws.bufferedAmount > REPLAY_BUFFER) await new Promise((resolve) => setTimeout(resolve, 10));
        if (!still()) return;
      }
      state.sent.set(topic, at.id);
      control(ws, 'position', { topic, id: at.id, epoch: at.epoch, count: at.count });
    }
  } else {
    control(ws, 'position', { topic, id: at.id, epoch: at.epoch, count: at.count });
  }
  state.sent.set(topic, at.id);
  const held = state.held.get(topic)!;
  state.held.delete(topic);
  for (const entry of held) sendEntry(connection, state, topic, entry);
}
