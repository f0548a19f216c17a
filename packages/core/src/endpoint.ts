import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import { CloseCode } from './protocol.js';
import type { CloseEvent, ConnectionHost } from './connection.js';
import { Connection, closeMessage, kActive, kByteBucket, kExpiresAt, kMessageBucket, kOnClosed, kPending } from './connection.js';
import { channels } from './diagnostics.js';
import type { FallbackMessage, HandshakeEndMessage, HandshakeStartMessage, OpenMessage, Transport } from './diagnostics.js';
import { EndpointStats } from './stats.js';
import type { EndpointStatsSnapshot } from './stats.js';
import { HandshakeRejection } from './errors.js';
import type { FallbackParams } from './fallback/session.js';
import { LIVENESS_FRAME, fallbackParams } from './fallback/session.js';
import { FallbackRoutes, answer, respond } from './fallback/http.js';
import { Hub } from './hub.js';
import { Sweeps } from './heartbeat.js';
import { HookDispatch, isThenable, logError } from './hooks.js';
import type { Transport as TransportSeam } from './transport.js';
import { ServerWebSocket } from './transport-ws.js';
import { TokenBucket } from './limits.js';
import { Admissions } from './admission.js';
import type { Admission, Admitted } from './admission.js';
import { checkHandshake, isWebSocketRequest, rejectHandshake } from './handshake.js';
import { releaseRequestListeners, releaseSocket, serverOf, takeSocket, watchServers } from './hijack.js';
import type { ConnectionListener, EndpointOptions, Handlers, Hooks, ResolvedOptions } from './options.js';
import { resolveOptions } from './options.js';
import { awaitResume } from './recovery/index.js';
import { RequestInfo, keptHeaders } from './request.js';
import type { ShutdownOptions } from './shutdown.js';
import { registerEndpoint } from './shutdown.js';

/** What an adapter knows about the request beyond Node's IncomingMessage. */
export interface RequestExtras {
  /** The URL as the client sent it, when the framework rewrote `req.url` (Express mounts). */
  url?: string;
  /** Route parameters. */
  params?: Record<string, string>;
  /** What middleware left: Express `res.locals`, Koa `ctx.state`. */
  state?: Record<string, unknown>;
  /**
   * The client's address as the framework computed it from `X-Forwarded-For` under its own
   * trust setting (Express `trust proxy`, Koa `app.proxy`, Fastify `trustProxy`). Adapters pass
   * it only when the app trusts a proxy; otherwise the socket's address is used, so a client
   * can never choose its address with a header.
   */
  remoteAddress?: string | undefined;
  /**
   * False when the framework reached this endpoint through a route bound to GET (Express
   * `router.get`, @koa/router `router.get`), so the fallback's POSTs to the same URL never
   * reach it. Core warns once (SWITCHYARD_FALLBACK_UNREACHABLE) when such a route opens a session.
   */
  postReachable?: boolean;
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
  readonly #listener: ConnectionListener | undefined;
  readonly #wss: WebSocketServer;
  #hub: Hub | undefined;
  /** The SSE + POST side of the fallback (fallback/http.ts). */
  readonly #fallbackRoutes: FallbackRoutes<Context>;
  #closing = false;
  /** The subprotocol of the handshake being completed right now (see handleProtocols). */
  #chosenProtocol: string | undefined;
  /** The checks before a 101 (admission.ts). */
  readonly #admission: Admissions<Context>;
  /** The address each connection's place under the caps was reserved for. */
  readonly #places = new Map<Connection<Context>, string>();
  /** The heartbeat and the idle and lifetime sweep (heartbeat.ts). */
  readonly #sweeps: Sweeps;
  /** @internal Coarse time (ms) that activity marks use: updated by the lifetime sweep. */
  activityClock: number | undefined;
  #warnedPostUnreachable = false;
  /** @internal The counters behind `stats()`; undefined with `stats: false`. */
  readonly counters: EndpointStats | undefined;

  constructor(handlers: Handlers<Context> | ConnectionListener, defaults?: EndpointOptions) {
    const endpoint = this;
    const listener = typeof handlers === 'function' ? handlers : undefined;
    const hooks: Handlers<Context> = listener ? {} : (handlers as Handlers<Context>);
    this.options = resolveOptions(hooks as Handlers<unknown>, defaults);
    this.#hooks = hooks;
    this.#dispatch = new HookDispatch<Context>(hooks, this.options);
    this.#listener = listener;
    watchServers();
    this.#admission = new Admissions<Context>(this.options, hooks.upgrade, {
      get closing() { return endpoint.#closing; },
      report: (error) => this.#dispatch.report(undefined, error),
    });
    if (this.options.idleTimeout !== Infinity) this.activityClock = Math.floor(performance.now());
    if (this.options.stats) this.counters = new EndpointStats();
    this.#sweeps = new Sweeps(this as Endpoint<any>);
    this.#fallbackRoutes = new FallbackRoutes<Context>({
      options: this.options,
      get hub() { return endpoint.hub; },
      get upgradeHook() { return hooks.upgrade; },
      admit: (req, url, offered, extras, server) => this.#admission.admit(req, url, offered, extras, server),
      release: (place) => this.#admission.release(place),
      rejected: (req, rejection, url, address) => this.#rejected(req, rejection, url, address),
      open: (transport, info, admitted, req) => this.#open(transport, info, admitted, req),
      report: (error) => this.#dispatch.report(undefined, error),
      warnPostUnreachable: (url) => this.#warnPostUnreachable(url),
    });
    const { compression, maxPayload } = this.options;
    this.#wss = new WebSocketServer({
      noServer: true,
      clientTracking: false,
      // ws checks maxPayload on the wire and after inflating alike. Incompressible data grows
      // under deflate (by ~4% from python-websockets, whose memLevel 5 means small stored
      // blocks), so a message within the limit could be refused on the wire: ws gets zlib's
      // conservative deflateBound, and Connection checks the exact limit after inflating.
      maxPayload: compression ? maxPayload + (maxPayload >> 3) + (maxPayload >> 6) + 64 : maxPayload,
      // Off: offers are declined, so no frame ever carries an RSV bit. On: ws's threshold and
      // zlib concurrency limit keep memory bounded (a deflate context is ~300 KB per socket).
      perMessageDeflate: compression ? { threshold: 1024, concurrencyLimit: 10, ...compression } : false,
      // ws asks during handleUpgrade, synchronously (there is no verifyClient), for the
      // protocol #accept chose; a property on the request would cost microseconds to add.
      handleProtocols: () => this.#chosenProtocol ?? false,
      WebSocket: ServerWebSocket,
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

  /** @internal Whether connections listen for the peer's pings for a `ping` hook. */
  get wantsPings(): boolean {
    return this.#hooks.ping !== undefined;
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
    return (this.counters ?? new EndpointStats()).snapshot();
  }

  /**
   * Handles an upgrade request that reached this endpoint: takes the socket from Node's HTTP
   * machinery, checks the handshake, runs the `upgrade` hook, then sends the 101. Every
   * failure becomes an HTTP answer or a close code; this never throws or rejects. Resolves with
   * the status sent: 101, a rejection's status, or 0 when the client left first.
   */
  handle(req: IncomingMessage, res: ServerResponse | undefined, extras: RequestExtras = {}): Promise<number> {
    const fallback = fallbackParams(extras.url ?? req.url ?? '/');
    const transport: Transport | undefined = isWebSocketRequest(req) ? 'websocket'
      : fallback.mode === 'sse' && fallback.session === undefined && req.method === 'GET' ? 'sse' : undefined;
    if (transport === undefined) return this.#handle(req, res, extras, fallback);
    const path = fallback.url.split('?', 1)[0]!;
    if (channels.handshakeStart.hasSubscribers) {
      const message: HandshakeStartMessage = { endpoint: this, request: req, transport, path };
      channels.handshakeStart.publish(message);
    }
    return this.#handle(req, res, extras, fallback).then((status) => {
      // An accepted handshake was reported as its connection opened.
      if (status === (transport === 'sse' ? 200 : 101)) return status;
      this.counters?.refuse(status);
      if (channels.handshakeEnd.hasSubscribers) {
        const reason = (req as IncomingMessage & { [kReason]?: string })[kReason] ?? '';
        const message: HandshakeEndMessage = { request: req, transport, path, status, accepted: false, reason, connection: undefined };
        channels.handshakeEnd.publish(message);
      }
      return status;
    });
  }

  async #handle(req: IncomingMessage, res: ServerResponse | undefined, extras: RequestExtras, fallback: FallbackParams): Promise<number> {
    const server = serverOf(req);
    registerEndpoint(server, this);
    if (!isWebSocketRequest(req) && res && (fallback.mode === 'sse' || fallback.mode === 'post')) {
      try {
        return await this.#fallbackRoutes.handle(req, res, fallback, extras, server);
      } catch (error) {
        this.#dispatch.report(undefined, error);
        return respond(res, answer(500, 'Internal Server Error'));
      }
    }
    // Without an async `upgrade` hook, nothing below waits: each await would cost a turn.
    let taken = takeSocket(req, res, fallback.url);
    if (taken instanceof Promise) taken = await taken;
    const { socket, head } = taken;
    try {
      const status = this.#upgrade(req, socket, head, fallback, extras, server);
      return typeof status === 'number' ? status : await status;
    } catch (error) {
      this.#dispatch.report(undefined, error);
      return this.#reject(req, socket, new HandshakeRejection(500, 'Internal Server Error'), fallback.url, extras.remoteAddress);
    }
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

  #upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, fallback: FallbackParams, extras: RequestExtras, server: ReturnType<typeof serverOf>): number | Promise<number> {
    const offered = checkHandshake(req);
    if (offered instanceof HandshakeRejection) return this.#reject(req, socket, offered, fallback.url, extras.remoteAddress);
    const admitted = this.#admission.admit(req, fallback.url, offered, extras, server);
    if (admitted instanceof Promise) return admitted.then((settled) => this.#accept(req, socket, head, fallback, extras, settled));
    return this.#accept(req, socket, head, fallback, extras, admitted);
  }

  #accept(req: IncomingMessage, socket: Duplex, head: Buffer, fallback: FallbackParams, extras: RequestExtras, admitted: Admission<Context>): number {
    if (admitted instanceof HandshakeRejection) return this.#reject(req, socket, admitted, fallback.url, extras.remoteAddress);
    if (socket.destroyed || !socket.readable || !socket.writable) {
      this.#admission.release(admitted.place);
      socket.destroy();
      return 0;
    }
    const info = new RequestInfo(fallback.url, keptHeaders(req.headers, this.options.keepHeaders, this.options.maxKeptHeaderLength), extras.remoteAddress ?? req.socket);
    releaseRequestListeners(req, socket);
    const live = fallback.mode === 'live';
    this.#chosenProtocol = admitted.protocol;
    try {
      this.#wss.handleUpgrade(req, socket, head, (ws) => {
        // ws has its own error listener on the socket now.
        releaseSocket(socket);
        // Only switchyard's client asks for this frame; it proves frames really flow, which a
        // 101 through a frame-dropping proxy does not.
        if (live) ws.send(LIVENESS_FRAME);
        // A client resuming a session (recovery/) speaks first; `open` waits for its token.
        const resuming = awaitResume(this, ws, req, info.path);
        if (!resuming) return this.#open(ws, info, admitted, req);
        void resuming.then((resumed) => {
          if (!resumed) return this.#admission.release(admitted.place);
          this.#open(ws, info, admitted, req);
          resumed();
        });
      });
    } finally {
      this.#chosenProtocol = undefined;
    }
    return 101;
  }

  #reject(req: IncomingMessage, socket: Duplex, rejection: HandshakeRejection, url: string, address?: string): number {
    rejectHandshake(socket, rejection.status, rejection.message, rejection.headers);
    this.#rejected(req, rejection, url, address);
    return rejection.status;
  }

  /** Tells the `rejected` hook about a refusal; its own failure is only logged. */
  #rejected(req: IncomingMessage, rejection: HandshakeRejection, url: string, address?: string): void {
    if (channels.handshakeEnd.hasSubscribers) (req as IncomingMessage & { [kReason]?: string })[kReason] = rejection.message;
    const hook = this.#hooks.rejected;
    if (!hook) return;
    const query = url.indexOf('?');
    try {
      const result = hook({
        status: rejection.status,
        reason: rejection.message,
        path: query === -1 ? url : url.slice(0, query),
        remoteAddress: address ?? req.socket?.remoteAddress,
      });
      if (isThenable(result)) result.then(undefined, (error: unknown) => logError(undefined, error));
    } catch (error) {
      logError(undefined, error);
    }
  }

  #warnPostUnreachable(url: string): void {
    if (this.#warnedPostUnreachable) return;
    this.#warnedPostUnreachable = true;
    const path = url.split('?', 1)[0];
    process.emitWarning(
      `A fallback (SSE) session opened on ${path}, but this endpoint is mounted on a GET-only route, ` +
      'so the POSTs that carry its messages never reach it: the client gives up with "session expired". ' +
      'Mount it with app.use(path, websocket(...)) or router.all(path, websocket(...)), or set fallback: false.',
      { code: 'SWITCHYARD_FALLBACK_UNREACHABLE' },
    );
  }

  #open(ws: TransportSeam, info: RequestInfo, admitted: Admitted<Context>, req: IncomingMessage): void {
    const connection = new Connection<Context>(ws, this, info, admitted.context as Context);
    // The socket is gone by the time close handlers run; read the address while it is here.
    if (this.#hooks.close) void info.remoteAddress;
    this.connections.add(connection);
    const transport = connection.transport;
    this.counters?.opened(transport);
    if (channels.handshakeEnd.hasSubscribers) {
      const status = transport === 'sse' ? 200 : 101;
      const message: HandshakeEndMessage = { request: req, transport, path: info.path, status, accepted: true, reason: '', connection };
      channels.handshakeEnd.publish(message);
    }
    if (channels.open.hasSubscribers) {
      const message: OpenMessage = { endpoint: this, connection, request: req, transport };
      channels.open.publish(message);
    }
    if (transport === 'sse' && channels.fallback.hasSubscribers) {
      const message: FallbackMessage = { connection, request: req, transport };
      channels.fallback.publish(message);
    }
    if (admitted.place !== undefined) this.#places.set(connection, admitted.place);
    this.#startLimits(connection, admitted.expiresAt);
    this.#sweeps.startHeartbeat();
    const open = this.#listener ?? this.#hooks.open;
    if (!open) return;
    connection[kPending] = [];
    let result: unknown;
    try {
      result = open(connection as Connection<any, any, any>, info);
    } catch (error) {
      this.#dispatch.fail(connection, error);
    }
    if (isThenable(result)) {
      result.then(() => this.#dispatch.flush(connection), (error: unknown) => {
        this.#dispatch.fail(connection, error);
        this.#dispatch.flush(connection);
      });
    } else {
      this.#dispatch.flush(connection);
    }
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

  /** @internal */
  dispatchClose(connection: Connection<Context>, event: CloseEvent): void {
    this.connections.delete(connection);
    this.counters?.closed(connection.transport, event.code);
    if (channels.close.hasSubscribers) channels.close.publish(closeMessage(connection, event));
    const place = this.#places.get(connection);
    if (place !== undefined) {
      this.#places.delete(connection);
      this.#admission.limits.release(place);
    }
    if (this.connections.size === 0) {
      this.#sweeps.stop();
    }
    this.#dispatch.close(connection, event);
  }

  /**
   * Per-connection limits: the message buckets of `rateLimit`, the activity mark of
   * `idleTimeout`, the end of its lifetime, and the sweep that enforces the last two.
   */
  #startLimits(connection: Connection<Context>, expiresAt: number | undefined): void {
    const { messageRate, byteRate, idleTimeout } = this.options;
    const now = performance.now();
    if (messageRate) connection[kMessageBucket] = new TokenBucket(messageRate, now);
    if (byteRate) connection[kByteBucket] = new TokenBucket(byteRate, now);
    if (expiresAt !== undefined) connection[kExpiresAt] = expiresAt;
    if (idleTimeout !== Infinity) connection[kActive] = Math.floor(now);
    if (idleTimeout !== Infinity || expiresAt !== undefined) this.#sweeps.startLifetimes();
  }

  /**
   * Closes every connection of this endpoint (1001 by default) and waits for their close
   * handlers. Upgrades that arrive meanwhile, or later, get 503.
   */
  async close(options: ShutdownOptions = {}): Promise<void> {
    this.#closing = true;
    const { code = CloseCode.GOING_AWAY, reason = 'Server shutting down', timeout = 5000 } = options;
    const waits: Promise<void>[] = [];
    for (const connection of this.connections) {
      waits.push(new Promise<void>((resolve) => {
        (connection[kOnClosed] ??= []).push(resolve);
      }));
      connection.close(code, reason);
    }
    if (waits.length > 0) {
      const timer = setTimeout(() => {
        for (const connection of this.connections) connection.terminate();
      }, timeout);
      await Promise.all(waits);
      clearTimeout(timer);
    }
    this.#sweeps.stopHeartbeat();
  }
}

/** On a refused handshake request, while `switchyard:handshake:end` has subscribers: why. */
const kReason = Symbol('switchyard.reason');

/** Creates an endpoint from handlers (or a faye-style connection function) and defaults. */
export function createEndpoint<Context = undefined>(handlers: Handlers<Context> | ConnectionListener, defaults?: EndpointOptions): Endpoint<Context> {
  return new Endpoint<Context>(handlers, defaults);
}
