import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import type { WebSocket } from 'ws';
import { CloseCode } from './codes.js';
import type { CloseEvent } from './connection.js';
import { Connection, RoutedWebSocket, kAwaitingPong, kLastPingAt, kOnClosed, kPending, kWs } from './connection.js';
import { HandshakeRejection } from './errors.js';
import type { FallbackParams } from './fallback.js';
import { LIVENESS_FRAME, SseSocket, fallbackParams, readBody } from './fallback.js';
import { Hub, Inbox } from './hub.js';
import { checkHandshake, isWebSocketRequest, rejectHandshake } from './handshake.js';
import { releaseRequestListeners, releaseSocket, serverOf, takeSocket, watchServers } from './hijack.js';
import type { ConnectionListener, EndpointOptions, Handlers, Hooks, ResolvedOptions, UpgradeResult } from './options.js';
import { resolveOptions } from './options.js';
import { RequestInfo, UpgradeRequest, keptHeaders } from './request.js';
import type { ShutdownOptions } from './shutdown.js';
import { isShuttingDown, registerEndpoint } from './shutdown.js';
import { parseProtocols, selectProtocol } from './subprotocol.js';

/** What an adapter knows about the request beyond Node's IncomingMessage. */
export interface RequestExtras {
  /** The URL as the client sent it, when the framework rewrote `req.url` (Express mounts). */
  url?: string;
  /** Route parameters. */
  params?: Record<string, string>;
  /** What middleware left: Express `res.locals`, Koa `ctx.state`. */
  state?: Record<string, unknown>;
}

/** What the checks decide for a new connection: a rejection, or what to open it with. */
type Admission<Context> = HandshakeRejection | { protocol: string | undefined; context: Context | undefined };

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return value !== null && typeof value === 'object' && typeof (value as PromiseLike<unknown>).then === 'function';
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
  readonly #listener: ConnectionListener | undefined;
  readonly #wss: WebSocketServer;
  #heartbeat: NodeJS.Timeout | undefined;
  #hub: Hub | undefined;
  readonly #sessions = new Map<string, SseSocket>();
  readonly #inboxes = new Map<SseSocket, Inbox>();
  #closing = false;
  /** The subprotocol of the handshake being completed right now (see handleProtocols). */
  #chosenProtocol: string | undefined;
  #warnedNoProtocol = false;

  constructor(handlers: Handlers<Context> | ConnectionListener, defaults?: EndpointOptions) {
    const listener = typeof handlers === 'function' ? handlers : undefined;
    const hooks: Handlers<Context> = listener ? {} : (handlers as Handlers<Context>);
    this.options = resolveOptions(hooks as Handlers<unknown>, defaults);
    this.#hooks = hooks;
    this.#listener = listener;
    watchServers();
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
      WebSocket: RoutedWebSocket,
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
   * Handles an upgrade request that reached this endpoint: takes the socket from Node's HTTP
   * machinery, checks the handshake, runs the `upgrade` hook, then sends the 101. Every
   * failure becomes an HTTP answer or a close code; this never throws or rejects. Resolves with
   * the status sent: 101, a rejection's status, or 0 when the client left first.
   */
  async handle(req: IncomingMessage, res: ServerResponse | undefined, extras: RequestExtras = {}): Promise<number> {
    const fallback = fallbackParams(extras.url ?? req.url ?? '/');
    const server = serverOf(req);
    registerEndpoint(server, this);
    if (!isWebSocketRequest(req) && res && (fallback.mode === 'sse' || fallback.mode === 'post')) {
      try {
        return await this.#fallback(req, res, fallback, extras, server);
      } catch (error) {
        this.#report(undefined, error);
        return respond(res, new HandshakeRejection(500, 'Internal Server Error'));
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
      this.#report(undefined, error);
      return this.#reject(socket, new HandshakeRejection(500, 'Internal Server Error'));
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

  /**
   * The checks every new connection passes, whatever its transport: shutdown, origin,
   * subprotocol, then the `upgrade` hook. Returns the rejection to send, or what to open with.
   */
  #admit(req: IncomingMessage, url: string, offered: string[], extras: RequestExtras, server: ReturnType<typeof serverOf>): Admission<Context> | Promise<Admission<Context>> {
    if (this.#closing || isShuttingDown(server)) return shuttingDown();

    const upgradeRequest = new UpgradeRequest(req, url, extras.params ?? {}, extras.state ?? {}, offered);
    const { origins, protocols } = this.options;
    const origin = req.headers.origin;
    if (origins !== undefined && origin !== undefined &&
        !(typeof origins === 'function' ? origins(origin, upgradeRequest) : origins.includes(origin))) {
      return new HandshakeRejection(403, `Origin ${origin} is not allowed`);
    }

    let protocol: string | undefined;
    if (offered.length > 0) {
      if (protocols === undefined) {
        this.#warnNoProtocol(url, offered);
      } else {
        protocol = selectProtocol(offered, protocols, upgradeRequest);
        if (protocol === undefined) {
          const speaks = typeof protocols === 'function' ? 'none of them' : protocols.join(', ') || 'none';
          return new HandshakeRejection(400,
            `Unsupported subprotocol: the client offered ${offered.join(', ')}; this endpoint speaks ${speaks}`);
        }
      }
    }

    const hook = this.#hooks.upgrade;
    if (!hook) return { protocol, context: undefined };
    return this.#runUpgradeHook(hook, upgradeRequest, protocol, server);
  }

  async #runUpgradeHook(hook: NonNullable<Hooks<Context>['upgrade']>, upgradeRequest: UpgradeRequest, protocol: string | undefined, server: ReturnType<typeof serverOf>): Promise<Admission<Context>> {
    let result: UpgradeResult<Context>;
    try {
      result = await hook(upgradeRequest);
    } catch (error) {
      if (error instanceof HandshakeRejection) return error;
      this.#report(undefined, error);
      return new HandshakeRejection(500, 'Internal Server Error');
    }
    if (result instanceof HandshakeRejection) return result;
    if (this.#closing || isShuttingDown(server)) return shuttingDown();
    return { protocol, context: result ? result.context : undefined };
  }

  #upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, fallback: FallbackParams, extras: RequestExtras, server: ReturnType<typeof serverOf>): number | Promise<number> {
    const offered = checkHandshake(req);
    if (offered instanceof HandshakeRejection) return this.#reject(socket, offered);
    const admitted = this.#admit(req, fallback.url, offered, extras, server);
    if (admitted instanceof Promise) return admitted.then((settled) => this.#accept(req, socket, head, fallback, settled));
    return this.#accept(req, socket, head, fallback, admitted);
  }

  #accept(req: IncomingMessage, socket: Duplex, head: Buffer, fallback: FallbackParams, admitted: Admission<Context>): number {
    if (admitted instanceof HandshakeRejection) return this.#reject(socket, admitted);
    if (socket.destroyed || !socket.readable || !socket.writable) {
      socket.destroy();
      return 0;
    }
    const info = new RequestInfo(fallback.url, keptHeaders(req.headers), req.socket);
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
        this.#open(ws, info, admitted.context as Context);
      });
    } finally {
      this.#chosenProtocol = undefined;
    }
    return 101;
  }

  /** The SSE + POST transport (docs/fallback-protocol.md). */
  async #fallback(req: IncomingMessage, res: ServerResponse, fallback: FallbackParams, extras: RequestExtras, server: ReturnType<typeof serverOf>): Promise<number> {
    const settings = this.options.fallback;
    if (!settings) return respond(res, new HandshakeRejection(404, 'This endpoint has no SSE fallback'));
    if (fallback.mode === 'post') {
      if (req.method !== 'POST') return respond(res, new HandshakeRejection(405, 'Fallback frames must be POSTed', { Allow: 'POST' }));
      return this.#post(req, res, fallback.session);
    }
    if (req.method !== 'GET') return respond(res, new HandshakeRejection(405, 'SSE streams must use GET', { Allow: 'GET' }));
    const lastEventId = Number(req.headers['last-event-id']);
    const resume = Number.isInteger(lastEventId) ? lastEventId : undefined;
    if (fallback.session !== undefined) {
      const session = this.#sessions.get(fallback.session);
      if (!session) return respond(res, new HandshakeRejection(404, 'Unknown or expired session'));
      if (!session.canReplayFrom(resume)) {
        // Events the client missed are gone from the replay buffer: resuming would leave a
        // silent hole, so the session ends and the client starts a new one.
        session.terminate();
        return respond(res, new HandshakeRejection(404, 'Session can no longer be resumed: events were lost'));
      }
      session.attach(res, resume, false);
      return 200;
    }
    let offered: string[] = [];
    if (fallback.protocols) {
      try {
        offered = parseProtocols(fallback.protocols);
      } catch (error) {
        return respond(res, new HandshakeRejection(400, `Invalid __sy_protocols: ${(error as Error).message}`));
      }
    }
    const admitted = await this.#admit(req, fallback.url, offered, extras, server);
    if (admitted instanceof HandshakeRejection) return respond(res, admitted);
    if (res.destroyed) return 0;
    const session = new SseSocket(this, admitted.protocol ?? '', settings);
    this.#sessions.set(session.id, session);
    if (this.hub.distributed) {
      // POSTs that land on another node come through the hub. The client may POST to another
      // node as soon as it reads `open`, so `open` waits until this node is subscribed; if the
      // backend is down, the session still works for POSTs that reach this node.
      const inbox = new Inbox((payload) => this.#deliverForwarded(session, payload));
      this.#inboxes.set(session, inbox);
      const topic = sessionTopic(session.id);
      this.hub.add(inbox, topic);
      await this.hub.whenSubscribed(topic).catch(() => {});
      if (res.destroyed) {
        session.terminate();
        return 0;
      }
    }
    session.attach(res, undefined, true);
    this.#open(session as unknown as WebSocket, new RequestInfo(fallback.url, keptHeaders(req.headers), req.socket.remoteAddress), admitted.context as Context);
    return 200;
  }

  async #post(req: IncomingMessage, res: ServerResponse, id: string | undefined): Promise<number> {
    const { maxPayload } = this.options;
    const body = await readBody(req, maxPayload * 2 + 64 * 1024);
    if (body === undefined) return respond(res, new HandshakeRejection(413, 'Body larger than maxPayload allows'));
    let message: { seq?: unknown; frames?: unknown };
    try {
      message = JSON.parse(body) as typeof message;
    } catch {
      return respond(res, new HandshakeRejection(400, 'Malformed body: expected JSON { seq, frames }'));
    }
    if (!Number.isInteger(message.seq) || !Array.isArray(message.frames) || id === undefined) {
      return respond(res, new HandshakeRejection(400, 'Malformed body: expected JSON { seq, frames } and __sy_session'));
    }
    const session = this.#sessions.get(id);
    if (session) {
      const [status, text] = session.receive(message.seq as number, message.frames, maxPayload);
      return status === 204 ? respondEmpty(res, 204) : respond(res, new HandshakeRejection(status, text));
    }
    if (this.hub.distributed) {
      await this.hub.publish(sessionTopic(id), body);
      return respondEmpty(res, 202);
    }
    return respond(res, new HandshakeRejection(404, 'Unknown or expired session'));
  }

  #deliverForwarded(session: SseSocket, payload: string | Buffer): void {
    try {
      const message = JSON.parse(payload.toString()) as { seq: number; frames: unknown[] };
      session.receive(message.seq, message.frames, this.options.maxPayload);
    } catch (error) {
      this.#report(undefined, error);
    }
  }

  /** @internal A fallback session ended. */
  forget(session: SseSocket): void {
    this.#sessions.delete(session.id);
    const inbox = this.#inboxes.get(session);
    if (inbox) {
      this.#inboxes.delete(session);
      this.hub.remove(inbox, sessionTopic(session.id));
    }
  }

  #reject(socket: Duplex, rejection: HandshakeRejection): number {
    rejectHandshake(socket, rejection.status, rejection.message, rejection.headers);
    return rejection.status;
  }

  #warnNoProtocol(url: string, offered: string[]): void {
    if (this.#warnedNoProtocol) return;
    this.#warnedNoProtocol = true;
    // The path only: a query string may carry a token.
    const path = url.split('?', 1)[0];
    process.emitWarning(
      `A client of ${path} offered subprotocols (${offered.join(', ')}) but this endpoint declares no ` +
      '"protocols", so the 101 names none. Browsers fail such a connection ("Sent non-empty ' +
      '\'Sec-WebSocket-Protocol\' header but no response was received"). Add protocols: [...] to the endpoint.',
      { code: 'SWITCHYARD_NO_SUBPROTOCOL' },
    );
  }

  #open(ws: WebSocket, info: RequestInfo, context: Context): void {
    const connection = new Connection<Context>(ws, this, info, context);
    // The socket is gone by the time close handlers run; read the address while it is here.
    if (this.#hooks.close) void info.remoteAddress;
    this.connections.add(connection);
    this.#startHeartbeat();
    const open = this.#listener ?? this.#hooks.open;
    if (!open) return;
    connection[kPending] = [];
    let result: unknown;
    try {
      result = open(connection as Connection<any>, info);
    } catch (error) {
      this.#fail(connection, error);
    }
    if (isThenable(result)) {
      result.then(() => this.#flush(connection), (error: unknown) => {
        this.#fail(connection, error);
        this.#flush(connection);
      });
    } else {
      this.#flush(connection);
    }
  }

  /** Delivers, in order, the messages that arrived while `open` ran. */
  #flush(connection: Connection<Context>): void {
    const pending = connection[kPending];
    connection[kPending] = null;
    if (pending) for (const [data, isBinary] of pending) this.dispatchMessage(connection, data, isBinary);
  }

  #invoke(connection: Connection<Context>, hook: (...args: any[]) => unknown, a?: unknown, b?: unknown): void {
    let result: unknown;
    try {
      result = hook(connection, a, b);
    } catch (error) {
      this.#fail(connection, error);
      return;
    }
    if (isThenable(result)) result.then(undefined, (error: unknown) => this.#fail(connection, error));
  }

  /** A handler failed: report it and close only this connection, with 1011. */
  #fail(connection: Connection<Context>, error: unknown): void {
    this.#report(connection, error);
    connection.close(CloseCode.INTERNAL_ERROR, 'Internal error');
  }

  #report(connection: Connection<Context> | undefined, error: unknown): void {
    const err = error instanceof Error ? error : new Error(String(error));
    const hook = this.#hooks.error;
    try {
      if (hook) {
        const result = hook(connection, err);
        if (isThenable(result)) result.then(undefined, (hookError: unknown) => logError(connection, hookError));
        return;
      }
    } catch (hookError) {
      logError(connection, hookError);
      return;
    }
    logError(connection, err);
  }

  /** @internal */
  dispatchMessage(connection: Connection<Context>, data: string | Buffer, isBinary: boolean): void {
    const hook = this.#hooks.message;
    if (hook) this.#invoke(connection, hook, data, isBinary);
    if (connection.listenerCount('message') > 0) {
      try {
        connection.emit('message', data, isBinary);
      } catch (error) {
        this.#fail(connection, error);
      }
    }
  }

  /** @internal */
  dispatchControl(connection: Connection<Context>, kind: 'ping' | 'pong' | 'drain', data?: Buffer): void {
    const hook = this.#hooks[kind];
    if (hook) this.#invoke(connection, hook, data);
    if (connection.listenerCount(kind) > 0) {
      try {
        if (kind === 'drain') connection.emit(kind);
        else connection.emit(kind, data!);
      } catch (error) {
        this.#fail(connection, error);
      }
    }
  }

  /** @internal */
  dispatchError(connection: Connection<Context>, error: Error): void {
    // The peer broke the protocol; ws already closes with 1002/1007/1009. Not logged by
    // default: a misbehaving client must not be able to flood the server's logs.
    if (connection.listenerCount('error') > 0) connection.emit('error', error);
    const hook = this.#hooks.error;
    if (hook) {
      try {
        const result = hook(connection, error);
        if (isThenable(result)) result.then(undefined, (hookError: unknown) => logError(connection, hookError));
      } catch (hookError) {
        logError(connection, hookError);
      }
    }
  }

  /** @internal */
  dispatchClose(connection: Connection<Context>, event: CloseEvent): void {
    this.connections.delete(connection);
    if (this.connections.size === 0) this.#stopHeartbeat();
    const settled = (): void => {
      const waiters = connection[kOnClosed];
      connection[kOnClosed] = undefined;
      if (waiters) for (const waiter of waiters) waiter();
    };
    let result: unknown;
    const hook = this.#hooks.close;
    try {
      if (hook) result = hook(connection, event);
      if (connection.listenerCount('close') > 0) connection.emit('close', event);
    } catch (error) {
      this.#report(connection, error);
    }
    if (isThenable(result)) {
      result.then(settled, (error: unknown) => {
        this.#report(connection, error);
        settled();
      });
    } else {
      settled();
    }
  }

  #startHeartbeat(): void {
    const { heartbeat } = this.options;
    if (!heartbeat || this.#heartbeat) return;
    // One timer per endpoint sweeps every connection, instead of a timer per connection.
    const tick = Math.max(5, Math.min(heartbeat.interval, heartbeat.timeout) / 4);
    this.#heartbeat = setInterval(sweep, tick, this, heartbeat.interval, heartbeat.timeout);
    this.#heartbeat.unref();
  }

  #stopHeartbeat(): void {
    if (this.#heartbeat) clearInterval(this.#heartbeat);
    this.#heartbeat = undefined;
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
    this.#stopHeartbeat();
  }
}

function sweep(endpoint: Endpoint<unknown>, interval: number, timeout: number): void {
  const now = Math.floor(performance.now());
  for (const connection of endpoint.connections) {
    const since = now - connection[kLastPingAt];
    if (connection[kAwaitingPong]) {
      if (since >= timeout) connection.terminate();
    } else if (since >= interval) {
      const ws = connection[kWs];
      if (ws.readyState !== 1) continue;
      connection[kAwaitingPong] = true;
      connection[kLastPingAt] = now;
      ws.ping();
    }
  }
}

function sessionTopic(id: string): string {
  return `__sy:session:${id}`;
}

/** Answers an ordinary HTTP request (the fallback's) with a rejection's status and text. */
function respond(res: ServerResponse, rejection: HandshakeRejection): number {
  if (res.headersSent || res.destroyed) {
    res.destroy();
    return rejection.status;
  }
  const body = `${rejection.message}\n`;
  res.writeHead(rejection.status, {
    ...rejection.headers,
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': Buffer.byteLength(body),
  });
  res.end(body);
  return rejection.status;
}

function respondEmpty(res: ServerResponse, status: number): number {
  res.writeHead(status);
  res.end();
  return status;
}

function shuttingDown(): HandshakeRejection {
  return new HandshakeRejection(503, 'Server is shutting down', { 'Retry-After': '5' });
}

function logError(connection: Connection<any> | undefined, error: unknown): void {
  const where = connection ? ` on ${connection.request.path}` : '';
  console.error(`[switchyard] handler error${where}:`, error);
}

/** Creates an endpoint from handlers (or a faye-style connection function) and defaults. */
export function createEndpoint<Context = undefined>(handlers: Handlers<Context> | ConnectionListener, defaults?: EndpointOptions): Endpoint<Context> {
  return new Endpoint<Context>(handlers, defaults);
}
