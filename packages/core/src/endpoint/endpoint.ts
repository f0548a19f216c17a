/**
 * The Endpoint: one `websocket(...)` call's settings, hooks and live connections, and the entry
 * adapters call for each request (`handles`, `handle`). It routes a request to the fallback's
 * SSE + POST side or takes its socket for a WebSocket, and glues together the parts that do
 * the work: the handshake (accept.ts), the open path (open.ts), handshake
 * reports (reports.ts), admission, hook dispatch, sweeps and stats.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { CloseCode } from '../protocol.js';
import type { CloseEvent, Connection } from '../connection/connection.js';
import { closedByOf } from '../connection/connection.js';
import type { Transport as ConnectionTransport } from '../connection/transport.js';
import type { DurableEntry, EnvelopeCache } from '../hub/durable.js';
import { deliverDurable, isRecovered, subscribed, unsubscribed } from '../recovery/index.js';
import { channels, publishLimit } from '../diagnostics.js';
import type { Transport } from '../diagnostics.js';
import { EndpointStats } from './stats.js';
import type { EndpointStatsSnapshot } from './stats.js';
import { HandshakeRejection } from '../errors.js';
import type { FallbackParams } from '../fallback/params.js';
import { fallbackParams } from '../fallback/params.js';
import { FallbackRoutes } from '../fallback/http.js';
import { answer, respond } from '../fallback/answer.js';
import { Hub } from '../hub/hub.js';
import { Sweeps } from './heartbeat.js';
import { HookDispatch } from './hooks.js';
import { Admissions } from './admission.js';
import type { Rate } from '../limits.js';
import { isWebSocketRequest } from '../handshake/handshake.js';
import { serverOf, takeSocket } from '../handshake/hijack.js';
import type { TakenSocket } from '../handshake/takeover.js';
import { watchServers } from '../handshake/route-upgrades.js';
import type { ConnectionListener, EndpointOptions, Handlers, Hooks, ResolvedOptions } from './options-types.js';
import { resolveOptions } from './options-resolve.js';
import type { ShutdownOptions } from './shutdown.js';
import { registerEndpoint } from './shutdown.js';
import { Upgrades } from './accept.js';
import type { RequestExtras } from '../handshake/request.js';
import { Openings, closeAll } from './open.js';
import {
  PostUnreachableWarning,
  ShedWarning,
  handshakeRefused,
  notifyRejected,
  publishHandshakeStart,
} from './reports.js';
import { PendingHandshakes } from './shedding.js';

/**
 * How a request passed to #handle stands under `maxPendingHandshakes`: not a handshake (a POST, a
 * stream of an existing session), a handshake holding a place, or one shed with this answer.
 */
type Place = false | true | HandshakeRejection;

/** `run()`'s status as a promise, a throw as a rejection. */
function settled(run: () => number | Promise<number>): Promise<number> {
  try {
    const status = run();
    return typeof status === 'number' ? Promise.resolve(status) : status;
  } catch (error) {
    return Promise.reject(error);
  }
}

/**
 * One WebSocket endpoint: its settings, its hooks and its live connections. Adapters create
 * one per `websocket(...)` call and pass it every request it `handles()`: WebSocket upgrades,
 * and the SSE streams and POSTs of the fallback transport.
 *
 * It is the ConnectionHost and SessionHost of what it creates, checked where it passes `this`.
 * It has no `implements` clause: the published types leave out the internal members those
 * interfaces name, and the clause would then fail to compile for users.
 */
export class Endpoint<Context = undefined> {
  /** The open connections. */
  readonly connections = new Set<Connection<Context>>();
  /** Settings with defaults applied. */
  readonly options: ResolvedOptions;
  readonly #hooks: Hooks<Context>;
  /** Hook dispatch and the error policy (hooks.ts). */
  readonly #dispatch: HookDispatch<Context>;
  #hub: Hub | undefined;
  /** The SSE + POST side of the fallback (fallback/http.ts). */
  readonly #fallbackRoutes: FallbackRoutes<Context>;
  #closing = false;
  /** The WebSocket handshake after the socket is taken, and the `ws` server (accept.ts). */
  readonly #upgrades: Upgrades<Context>;
  /** The checks before a 101 (admission.ts). */
  readonly #admission: Admissions<Context>;
  /** The open path: wiring, `open`, and places under the caps (open.ts). */
  readonly #openings: Openings<Context>;
  /** The heartbeat and the idle and lifetime sweep (heartbeat.ts). */
  readonly #sweeps: Sweeps;
  /** @internal Coarse time (ms) that activity marks use: updated by the lifetime sweep. */
  activityClock: number | undefined;
  readonly #postUnreachable = new PostUnreachableWarning();
  readonly #shedWarning = new ShedWarning();
  /** The handshakes in progress, under `maxPendingHandshakes` (shedding.ts). */
  readonly #pending: PendingHandshakes;
  /** @internal The counters behind `stats()`; undefined with `stats: false`. */
  readonly counters: EndpointStats | undefined;

  constructor(handlers: Handlers<Context> | ConnectionListener, defaults?: EndpointOptions) {
    const endpoint = this;
    const listener = typeof handlers === 'function' ? handlers : undefined;
    const hooks: Handlers<Context> = listener ? {} : (handlers as Handlers<Context>);
    this.options = resolveOptions(hooks as Handlers<unknown>, defaults);
    this.#hooks = hooks;
    this.#dispatch = new HookDispatch<Context>(hooks, this.options);
    watchServers();
    this.#admission = new Admissions<Context>(this.options, hooks.upgrade, {
      get closing() {
        return endpoint.#closing;
      },
      report: (error) => this.#dispatch.report(undefined, error),
    });
    if (this.options.idleTimeout !== Infinity) this.activityClock = Math.floor(performance.now());
    if (this.options.stats) this.counters = new EndpointStats();
    this.#pending = new PendingHandshakes(this.options.maxPendingHandshakes);
    this.#sweeps = new Sweeps(this as Endpoint<any>);
    this.#openings = new Openings<Context>({
      endpoint: this,
      hooks,
      listener,
      dispatch: this.#dispatch,
      admission: this.#admission,
      sweeps: this.#sweeps,
    });
    this.#upgrades = new Upgrades<Context>({
      endpoint: this,
      admission: this.#admission,
      rejected: (req, rejection, url, address) => notifyRejected(hooks, req, rejection, url, address),
      open: (transport, info, admitted, req) => this.#openings.open(transport, info, admitted, req),
    });
    this.#fallbackRoutes = new FallbackRoutes<Context>({
      options: this.options,
      get hub() {
        return endpoint.hub;
      },
      get upgradeHook() {
        return hooks.upgrade;
      },
      admit: (req, url, offered, extras, server) => this.#admission.admit(req, url, offered, extras, server),
      release: (place) => this.#admission.release(place),
      rejected: (req, rejection, url, address) => notifyRejected(hooks, req, rejection, url, address),
      open: (transport, info, admitted, req) => this.#openings.open(transport, info, admitted, req),
      report: (error) => this.#dispatch.report(undefined, error),
      warnPostUnreachable: (url) => this.#postUnreachable.warn(url),
    });
  }

  /** `send()` returns false above this many buffered bytes. */
  get highWaterMark(): number {
    return this.options.highWaterMark;
  }

  /** The hub behind `ws.subscribe` / `ws.publish`: the `hub` option, or this endpoint's own. */
  get hub(): Hub {
    return (this.#hub ??= this.options.hub ?? new Hub());
  }

  /** @internal Whether connections listen for the peer's pings: for a `ping` hook, or to count them. */
  get wantsPings(): boolean {
    return this.#hooks.ping !== undefined || this.options.controlRate !== undefined;
  }

  /** @internal The budget of each connection's pings and unsolicited pongs (`controlRate`). */
  get controlRate(): Rate | undefined {
    return this.options.controlRate;
  }

  /** Largest message accepted, in bytes. */
  get maxPayload(): number {
    return this.options.maxPayload;
  }

  /** Slow consumers are closed with 1008 above this many buffered bytes. */
  get maxBufferedAmount(): number {
    return this.options.maxBufferedAmount;
  }

  /**
   * Live numbers: open connections by transport, handshakes accepted and refused by status,
   * messages and bytes each way, close codes, and ping round trips. A snapshot; with
   * `stats: false`, every number stays 0.
   */
  stats(): EndpointStatsSnapshot {
    const { counters } = this;
    return counters ? counters.snapshot(this.#pending.count, this.#pending.shed) : new EndpointStats().snapshot();
  }

  /**
   * Handles an upgrade request that reached this endpoint: takes the socket from Node's HTTP
   * machinery, checks the handshake, runs the `upgrade` hook, then sends the 101. Every
   * failure becomes an HTTP answer or a close code; this never throws or rejects. Resolves with
   * the status sent: 101, a rejection's status, or 0 when the client left first.
   */
  handle(req: IncomingMessage, res: ServerResponse | undefined, extras: RequestExtras = {}): Promise<number> {
    const fallback = fallbackParams(extras.url ?? req.url ?? '/');
    const transport: Transport | undefined = isWebSocketRequest(req)
      ? 'websocket'
      : fallback.mode === 'sse' && fallback.session === undefined && req.method === 'GET'
        ? 'sse'
        : undefined;
    if (transport === undefined) return settled(() => this.#handle(req, res, extras, fallback, false));
    const query = fallback.url.indexOf('?');
    const path = query === -1 ? fallback.url : fallback.url.slice(0, query);
    publishHandshakeStart(this, req, transport, path);
    const place = this.#pending.enter() || this.#shed(req, extras, fallback.url);
    // Without an async `upgrade` hook (or a socket still on its way) the handshake is over when
    // #handle returns: no async function, no turn and no closures per handshake then.
    let outcome: number | Promise<number>;
    try {
      outcome = this.#handle(req, res, extras, fallback, place);
    } catch (error) {
      if (place === true) this.#pending.leave(req);
      return Promise.reject(error);
    }
    if (typeof outcome === 'number') return Promise.resolve(this.#handled(req, transport, path, place, outcome));
    return outcome.then(
      (status) => this.#handled(req, transport, path, place, status),
      (error: unknown) => {
        if (place === true) this.#pending.leave(req);
        throw error;
      },
    );
  }

  /** A handshake ended with `status`: its place is free, and a refusal is reported. */
  #handled(req: IncomingMessage, transport: Transport, path: string, place: Place, status: number): number {
    if (place === true) this.#pending.leave(req);
    // An accepted handshake was reported as its connection opened.
    if (status !== (transport === 'sse' ? 200 : 101)) handshakeRefused(this, req, transport, path, status);
    return status;
  }

  /**
   * The answer to a handshake beyond `maxPendingHandshakes`: 503 with an adaptive `Retry-After`,
   * announced on `switchyard:limit` and, the first time, as a warning.
   */
  #shed(req: IncomingMessage, extras: RequestExtras, url: string): HandshakeRejection {
    const { max } = this.#pending;
    if (channels.limit.hasSubscribers)
      publishLimit(
        'maxPendingHandshakes',
        'refused',
        undefined,
        extras.remoteAddress ?? req.socket?.remoteAddress,
        503,
        undefined,
      );
    this.#shedWarning.warn(url, max);
    return new HandshakeRejection(503, `This endpoint has ${max} handshakes in progress; retry later`, {
      'Retry-After': String(this.#pending.retryAfter(performance.now())),
    });
  }

  #handle(
    req: IncomingMessage,
    res: ServerResponse | undefined,
    extras: RequestExtras,
    fallback: FallbackParams,
    place: Place,
  ): number | Promise<number> {
    const server = serverOf(req);
    registerEndpoint(server, this);
    if (!isWebSocketRequest(req) && res && (fallback.mode === 'sse' || fallback.mode === 'post'))
      return this.#handleFallback(req, res, extras, fallback, place, server);
    const taken = takeSocket(req, res, fallback.url);
    if (!(taken instanceof Promise)) return this.#upgrade(req, taken, extras, fallback, place, server);
    if (place === true) this.#pending.watch(req);
    return taken.then((arrived) => this.#upgrade(req, arrived, extras, fallback, place, server));
  }

  /** The fallback's SSE streams and POSTs (fallback/http.ts). */
  async #handleFallback(
    req: IncomingMessage,
    res: ServerResponse,
    extras: RequestExtras,
    fallback: FallbackParams,
    place: Place,
    server: ReturnType<typeof serverOf>,
  ): Promise<number> {
    if (place instanceof HandshakeRejection) {
      notifyRejected(this.#hooks, req, place, fallback.url, extras.remoteAddress);
      return respond(res, place);
    }
    // A new session's place is given back if its client leaves while it opens.
    if (place) this.#pending.watch(req);
    try {
      return await this.#fallbackRoutes.handle(req, res, fallback, extras, server);
    } catch (error) {
      this.#dispatch.report(undefined, error);
      return respond(res, answer(500, 'Internal Server Error'));
    }
  }

  /** The WebSocket handshake on a taken socket (accept.ts); a throw or rejection answers 500. */
  #upgrade(
    req: IncomingMessage,
    { socket, head }: TakenSocket,
    extras: RequestExtras,
    fallback: FallbackParams,
    place: Place,
    server: ReturnType<typeof serverOf>,
  ): number | Promise<number> {
    if (place instanceof HandshakeRejection)
      return this.#upgrades.reject(req, socket, place, fallback.url, extras.remoteAddress);
    let status: number | Promise<number>;
    try {
      status = this.#upgrades.upgrade(req, socket, head, fallback, extras, server);
    } catch (error) {
      return this.#failed(req, socket, fallback, extras, error);
    }
    if (typeof status === 'number') return status;
    if (place) this.#pending.watch(req);
    return status.then(undefined, (error: unknown) => this.#failed(req, socket, fallback, extras, error));
  }

  #failed(
    req: IncomingMessage,
    socket: Duplex,
    fallback: FallbackParams,
    extras: RequestExtras,
    error: unknown,
  ): number {
    this.#dispatch.report(undefined, error);
    return this.#upgrades.reject(
      req,
      socket,
      new HandshakeRejection(500, 'Internal Server Error'),
      fallback.url,
      extras.remoteAddress,
    );
  }

  /**
   * True for the requests this endpoint answers: WebSocket upgrades, and the fallback's SSE
   * streams and POSTs. Adapters pass everything else on to the next handler.
   */
  handles(req: IncomingMessage, url: string = req.url ?? '/'): boolean {
    if (isWebSocketRequest(req)) return true;
    if (!this.options.fallback) return false;
    const { mode } = fallbackParams(url);
    return mode === 'sse' || mode === 'post';
  }

  /** @internal A `for await` loop started: what waits for an async `open` goes to it now. */
  startedIterating(connection: Connection<Context>): void {
    this.#dispatch.startedIterating(connection);
  }

  /** @internal */
  dispatchMessage(connection: Connection<Context>, data: string | Buffer, isBinary: boolean): void {
    this.#dispatch.message(connection, data, isBinary);
  }

  /** @internal */
  dispatchControl(connection: Connection<Context>, kind: 'ping' | 'pong' | 'drain', data?: Buffer): void {
    this.#dispatch.control(connection, kind, data);
  }

  /** @internal */
  dispatchError(connection: Connection<Context>, error: Error): void {
    this.#dispatch.error(connection, error);
  }

  /** @internal */
  listenerRejected(connection: Connection<Context>, event: string, error: unknown): void {
    this.#dispatch.listenerRejected(connection, event, error);
  }

  /** @internal Whether the connection on `ws` resumed a session (recovery/). */
  isRecovered(ws: ConnectionTransport): boolean {
    return isRecovered(ws);
  }

  /** @internal A connection joined a topic: a resumed one gets what it missed first (recovery/). */
  subscribed(connection: Connection<Context>, topic: string): void {
    subscribed(connection, topic);
  }

  /** @internal A connection left a topic (recovery/). */
  unsubscribed(connection: Connection<Context>, topic: string): void {
    unsubscribed(connection, topic);
  }

  /** @internal A durable hub's entry for `connection`: recovery's envelope, or skipped as its own. */
  deliverDurable(connection: Connection<Context>, topic: string, entry: DurableEntry, cache: EnvelopeCache): boolean {
    return deliverDurable(connection, topic, entry, cache);
  }

  /** @internal */
  dispatchClose(connection: Connection<Context>, event: CloseEvent): void {
    this.connections.delete(connection);
    this.counters?.closed(connection.transport, event.code);
    if (channels.close.hasSubscribers) {
      // A CloseMessage (diagnostics-messages.ts).
      const message = {
        connection,
        code: event.code,
        reason: event.reason,
        wasClean: event.wasClean,
        closedBy: closedByOf(connection),
      };
      channels.close.publish(message);
    }
    this.#openings.closed(connection);
    if (this.connections.size === 0) {
      this.#sweeps.stop();
    }
    this.#dispatch.close(connection, event);
  }

  /**
   * Closes every connection of this endpoint (1001 by default) and waits for their close
   * handlers. Upgrades that arrive meanwhile, or later, get 503.
   */
  async close(options: ShutdownOptions = {}): Promise<void> {
    this.#closing = true;
    const { code = CloseCode.GOING_AWAY, reason = 'Server shutting down', timeout = 5000 } = options;
    const closed = closeAll(this.connections, code, reason, timeout);
    if (closed) await closed;
    this.#sweeps.stopHeartbeat();
  }
}

/** Creates an endpoint from handlers (or a faye-style connection function) and defaults. */
export function createEndpoint<Context = undefined>(
  handlers: Handlers<Context> | ConnectionListener,
  defaults?: EndpointOptions,
): Endpoint<Context> {
  return new Endpoint<Context>(handlers, defaults);
}
