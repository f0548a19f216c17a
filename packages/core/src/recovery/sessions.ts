/** Sessions: kept in the durable store while open, restored from a token on any node. */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { WebSocket } from 'ws';
import type { Transport } from '../connection/transport.js';
import { CloseCode, RecoveryWire } from '../protocol.js';
import { HandshakeRejection } from '../errors.js';
import { durableStoreOf } from './options.js';
import type { DurableStore, ResolvedRecovery } from './options.js';
import { control, RecoveryState, states } from './state.js';
import { MAX_TOKEN_BYTES, parseToken, RESUME_HEADER, RESUME_PREFIX } from './token.js';
import type { Token } from './token.js';
import type { Hub } from '../hub/hub.js';

const RESUME_FLAG = new RegExp(`[?&]${RecoveryWire.RESUME_PARAM}=1(?:&|$)`);
/** How long a client that announced a resume has to send its token. */
const TOKEN_TIMEOUT = 10_000;
/**
 * The `Retry-After` (seconds) of a resume refused while the store is down. Redis's client
 * retries its connection at least every 2 s, so a store that is back is usually known within
 * about a second of a retry; the switchyard client adds its jitter on top, so that the clients
 * of a node do not all come back in the same instant.
 */
export const RESUME_RETRY_AFTER = 1;

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

  constructor(
    readonly store: DurableStore,
    readonly ttl: number,
  ) {}

  add(id: string, endpoint: string): void {
    const held = this.#sessions.get(id);
    if (held) held.holders++;
    else this.#sessions.set(id, { endpoint, holders: 1 });
    this.#save(new Map([[id, endpoint]]));
    // Refreshed at a third of the window, so that a crashed node's sessions outlive it by at least two thirds of it.
    this.#timer ??= setInterval(
      () => this.#save(new Map([...this.#sessions].map(([key, value]) => [key, value.endpoint]))),
      Math.max(500, this.ttl / 3),
    ).unref();
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

  /** Sessions to write with the next batch: id to endpoint. */
  #unsaved = new Map<string, string>();
  /** A batch is scheduled or in flight: what comes meanwhile waits for the next one. */
  #saving = false;

  /**
   * Writes sessions in batches: what is asked for within one turn of the event loop, and while a
   * batch is in flight, goes out together as the next one. When every client of a node resumes
   * at once, that is one transaction for hundreds of sessions, instead of a MULTI, a SET and an
   * EXEC for each (three commands a client for the node to encode and parse, and Redis to run).
   * A write waits one turn at most when the store is idle.
   */
  #save(sessions: ReadonlyMap<string, string>): void {
    for (const [id, endpoint] of sessions) this.#unsaved.set(id, endpoint);
    if (this.#saving || this.#unsaved.size === 0) return;
    this.#saving = true;
    setImmediate(() => this.#flush());
  }

  #flush(): void {
    const batch = this.#unsaved;
    this.#unsaved = new Map();
    if (batch.size === 0) {
      this.#saving = false;
      return;
    }
    void this.store
      .keepSessions(batch, this.ttl)
      .catch(() => {})
      .then(() => this.#flush());
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

/** The answer to a resume that cannot be served now: it never opens a session without its gap. */
export function resumeUnavailable(): HandshakeRejection {
  return new HandshakeRejection(503, 'The session store is unreachable; resume again later', {
    'Retry-After': String(RESUME_RETRY_AFTER),
  });
}

/**
 * Before anything else of a handshake that asks to resume (a WebSocket's `__sy_resume=1`, a new
 * SSE session's `X-Switchyard-Resume`): the 503 to answer while the durable store is known to be
 * down, or undefined. A WebSocket refused after its 101 (close 1013) would count as a connection
 * that opened, and its client would start its backoff over; a 503 is a refused attempt, and
 * carries `Retry-After`.
 */
export function refuseResume(
  host: RecoveryHost,
  req: IncomingMessage,
  transport: 'websocket' | 'sse',
): HandshakeRejection | undefined {
  if (!host.options.recovery) return undefined;
  const asks = transport === 'websocket' ? RESUME_FLAG.test(req.url ?? '') : req.headers[RESUME_HEADER] !== undefined;
  if (!asks || durableStoreOf(host.hub)?.reachable?.() !== false) return undefined;
  return resumeUnavailable();
}

/**
 * For a new WebSocket: undefined when no resume was asked for (the connection opens at once and
 * is not recoverable). Otherwise waits for the token, checks it, and resolves with a function to
 * call once `open` has run (it sends the session frame and the messages that came after the
 * token), or with undefined when the socket ended meanwhile.
 */
export function awaitResume(
  host: RecoveryHost,
  ws: WebSocket,
  req: IncomingMessage,
  path: string,
): Promise<(() => void) | undefined> | undefined {
  const settings = host.options.recovery;
  if (!settings || !RESUME_FLAG.test(req.url ?? '')) return undefined;
  const later: Array<[Buffer, boolean]> = [];
  return new Promise((resolve) => {
    let token: Token | undefined;
    let timer = setTimeout(() => fail(CloseCode.POLICY_VIOLATION, 'No resume token'), TOKEN_TIMEOUT);
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
      // The token came: from here a slow store is the server's fault, not the client's, so it
      // ends in 1013 (the client retries), never in 1008 for a token it did send.
      clearTimeout(timer);
      timer = setTimeout(() => fail(CloseCode.TRY_AGAIN_LATER, 'Cannot reach the session store'), TOKEN_TIMEOUT);
      void restoreSession(host, ws, parsed, path).then(
        (state) => {
          done();
          if (!state || ws.readyState !== 1) return resolve(undefined);
          resolve(() => afterOpen(state));
        },
        () => fail(CloseCode.TRY_AGAIN_LATER, 'Cannot reach the session store'),
      );
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
async function restoreSession(
  host: RecoveryHost,
  ws: Transport,
  parsed: Token,
  path: string,
): Promise<RecoveryState | undefined> {
  const settings = host.options.recovery as ResolvedRecovery;
  const store = durableStoreOf(host.hub)!;
  const key = endpointKey(path);
  const owner = parsed.session === null ? undefined : await store.findSession(parsed.session);
  if (ws.readyState !== 1) return undefined;
  // A token of another endpoint, or an unknown or expired one, resumes nothing.
  const recovered = owner === key;
  const session = recovered ? parsed.session! : randomBytes(16).toString('base64url');
  const state = new RecoveryState(
    ws,
    session,
    recovered,
    recovered ? parsed.positions : new Map(),
    store,
    host.hub,
    settings,
  );
  if (!recovered && parsed.session !== null) {
    state.unrecoverable = [...parsed.positions.keys()].map((topic) => ({ topic, reason: 'expired' }));
  }
  states.set(ws, state);
  const keeper = keeperOf(store, settings.maxDisconnectionDuration);
  keeper.add(session, key);
  ws.once('close', () => keeper.remove(session));
  return state;
}

/**
 * For a new SSE session: undefined without recovery or the header; a string when the header
 * is malformed (answer 400); otherwise a function to run before `open` (restores the session)
 * that resolves with the one to run after it.
 */
export function sseResume(
  host: RecoveryHost,
  req: IncomingMessage,
): string | undefined | ((ws: Transport, path: string) => Promise<(() => void) | undefined>) {
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
