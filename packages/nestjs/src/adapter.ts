/**
 * `SwitchyardAdapter`: Nest's WebSocketAdapter on switchyard. Each gateway path becomes one core
 * endpoint on the app's own HTTP server, reached through the framework's routing (Express or
 * Fastify), so Nest middleware and the gateway's guards answer a handshake before the 101. The
 * gateway's events then run on core's hooks: `open` is Nest's connection, `message` its
 * `@SubscribeMessage` dispatch, `close` its disconnect.
 */
import { EventEmitter } from 'node:events';
import type { Server } from 'node:http';
import type { INestApplication } from '@nestjs/common';
import { AbstractWsAdapter } from '@nestjs/websockets';
import type { MessageMappingProperties } from '@nestjs/websockets';
import { ErrorCode, createEndpoint, reject, routeUpgrades } from '@switchyard/core';
import type {
  CloseEvent,
  Connection,
  Endpoint,
  Handlers,
  RequestInfo,
  SendData,
  ShutdownOptions,
  UpgradeRequest,
  UpgradeResult,
} from '@switchyard/core';
import { expressUpgradeShape, shapeUpgradeRequests, withCode } from '@switchyard/core/internal';
import type { Observable } from 'rxjs';
import { guardGateway, installWsDefault } from './filters.js';
import {
  checkHandshake,
  findGateways,
  gatewaysOf,
  hearsDisconnect,
  isThenable,
  normalizePath,
  refusalFor,
} from './guards.js';
import type { Gateway, Refusal } from './guards.js';
import { MessageRouter, parseJson } from './messages.js';
import type { PathHost } from './mount.js';
import { FastifyMount, mountExpress } from './mount.js';
import type { MessageParser, SwitchyardAdapterOptions, SwitchyardGatewayOptions } from './options.js';

/**
 * What `@WebSocketServer()` receives: the gateway path's endpoint. It emits `connection` with
 * `(ws, request)` for each connection, as `ws`'s WebSocketServer does.
 */
export class SwitchyardServer extends EventEmitter {
  /** The gateway's path. */
  readonly path: string;
  /** The core endpoint: settings, `stats()`, and its live connections. */
  readonly endpoint: Endpoint<any>;

  constructor(path: string, endpoint: Endpoint<any>) {
    super();
    this.path = path;
    this.endpoint = endpoint;
  }

  /** The open connections, as `WebSocketServer#clients`. */
  get clients(): ReadonlySet<Connection<any, any, any>> {
    return this.endpoint.connections;
  }

  /** Publishes to a topic on the endpoint's hub (every process, with a Redis hub). */
  publish(topic: string, data: SendData): Promise<void> {
    return this.endpoint.hub.publish(topic, data);
  }

  /** Closes every connection (1001) and waits for their close handlers. */
  close(options?: ShutdownOptions): Promise<void> {
    return this.endpoint.close(options);
  }
}

/** What Nest's HTTP adapter declares routes with, after the app's middleware (AbstractHttpAdapter). */
const ROUTE_METHODS = [
  'get',
  'post',
  'put',
  'delete',
  'patch',
  'all',
  'options',
  'head',
  'search',
  'propfind',
  'proppatch',
  'mkcol',
  'copy',
  'move',
  'lock',
  'unlock',
  'setNotFoundHandler',
] as const;

/** The Nest WebSocketAdapter: `app.useWebSocketAdapter(new SwitchyardAdapter(app, options))`. */
export class SwitchyardAdapter extends AbstractWsAdapter<any, any> {
  readonly #app: INestApplication;
  readonly #defaults: SwitchyardAdapterOptions;
  readonly #parser: MessageParser;
  readonly #router = new MessageRouter();
  /** Paths created before the framework's middleware is registered wait for it (Express runs handlers in order). */
  readonly #waiting: PathHost[] = [];
  #middlewareReady: boolean;
  /** On platform-fastify: the gateway paths' routes, declared after the app's own. */
  readonly #fastify: FastifyMount | undefined;

  constructor(app: INestApplication, options: SwitchyardAdapterOptions = {}) {
    super(app);
    if (typeof (app as { getHttpAdapter?: unknown })?.getHttpAdapter !== 'function') {
      throw withCode(
        new TypeError('SwitchyardAdapter: pass the Nest application (new SwitchyardAdapter(app)), not a server'),
        ErrorCode.INVALID_OPTION,
      );
    }
    const { messageParser, ...defaults } = options;
    this.#app = app;
    this.#defaults = defaults;
    this.#parser = messageParser ?? parseJson;
    // Every upgrade on the app's server now travels the framework's request pipeline.
    routeUpgrades(this.httpServer as Server);
    // Nest builds each @SubscribeMessage handler's exception filters, and binds handleConnection,
    // at init, after this: the default after the 101 and the guards against a failing filter or
    // handleConnection must be on the gateways by then.
    for (const gateway of gatewaysOf(app)) {
      installWsDefault(gateway.metatype);
      guardGateway(gateway);
    }
    // Express runs handlers in the order they were added, and Nest adds its middleware after the
    // gateways: the paths are mounted right after it, as Nest starts adding routes (or, with no
    // controllers, its 404 handler). Fastify orders by hooks, so middleware needs no wait; its
    // routes are declared once the app's own are (Nest's 404 handler comes after them), so that
    // a controller on a gateway's path keeps it (see FastifyMount).
    this.#middlewareReady = this.#platform() !== 'express';
    if (this.#middlewareReady) {
      const fastify = new FastifyMount(this.#app.getHttpAdapter().getInstance());
      this.#fastify = fastify;
      this.#beforeRoutes(['setNotFoundHandler'], () => fastify.route());
    } else {
      // Express adds properties to each request after swapping its prototype: added first, they
      // cost a plain store instead of a new hidden class apiece (see expressUpgradeShape).
      shapeUpgradeRequests(this.httpServer as Server, expressUpgradeShape);
      this.#beforeRoutes(ROUTE_METHODS, () => {
        this.#middlewareReady = true;
        for (const host of this.#waiting.splice(0)) this.#mount(host);
      });
    }
  }

  /** Calls `then` once, just before Nest's HTTP adapter first calls one of `methods`. */
  #beforeRoutes(methods: readonly string[], then: () => void): void {
    const adapter = this.#app.getHttpAdapter() as unknown as Record<string, unknown>;
    const names = methods.filter((name) => typeof adapter[name] === 'function');
    const originals = new Map(names.map((name) => [name, adapter[name] as (...args: unknown[]) => unknown]));
    for (const [name, original] of originals) {
      adapter[name] = (...args: unknown[]) => {
        for (const restored of names) delete adapter[restored];
        then();
        return Reflect.apply(original, adapter, args);
      };
    }
  }

  #platform(): string {
    return this.#app.getHttpAdapter().getType();
  }

  #mount(host: PathHost): void {
    if (this.#fastify) this.#fastify.add(host);
    else mountExpress(this.#app.getHttpAdapter().getInstance(), host);
  }

  /** Nest calls this once per gateway path (gateways on one path share it). */
  create(port: number, options: SwitchyardGatewayOptions & { namespace?: unknown } = {}): SwitchyardServer {
    const {
      path: given,
      namespace,
      listener,
      messageParser,
      ...settings
    } = options as SwitchyardGatewayOptions & {
      namespace?: unknown;
      server?: unknown;
    };
    if (port !== 0) {
      throw withCode(
        new TypeError(
          `SwitchyardAdapter: a gateway on its own port (${port}) is not supported; gateways share the app's server, told apart by path`,
        ),
        ErrorCode.INVALID_OPTION,
      );
    }
    if (namespace !== undefined) {
      throw withCode(
        new TypeError("SwitchyardAdapter: namespaces are socket.io's; give each gateway its own path"),
        ErrorCode.INVALID_OPTION,
      );
    }
    const path = normalizePath(given);
    const parser = messageParser ?? this.#parser;
    const router = this.#router;
    const own = settings as Handlers<any, any, any>;
    let server: SwitchyardServer | undefined;
    let gateways: Gateway[] | undefined;
    /** Whether a gateway on this path has a handshake guard: without one, the 101 needs no promise. */
    let guarded = false;
    const connected = (ws: Connection<any, any, any>): void => {
      server?.emit('connection', ws, ws.request);
    };
    const listened = listener
      ? (ws: Connection<any, any, any>): unknown => settle(listener(ws, ws.request), () => connected(ws))
      : connected;
    const handlers: Handlers<any, any, any> = {
      ...own,
      // The gateways' guards first, on the framework's request (the handshake's state); then the
      // gateway's own `upgrade` hook, whose error goes through the same filters as a guard's, or
      // by default a context of what guards and middleware set as `request.user` (Passport's
      // place for it): `ws.context.user`.
      upgrade: (req: UpgradeRequest) => {
        // The container is complete once requests arrive; the gateways on this path are found once.
        if (gateways === undefined) {
          gateways = findGateways(this.#app, path);
          guarded = gateways.some((gateway) => gateway.guards.length > 0);
        }
        const found = gateways;
        // Guards that answer with a boolean, and no hook of the gateway's: no promise before the 101.
        const refusal = guarded ? checkHandshake(found, req.state) : undefined;
        if (isThenable(refusal)) return refusal.then((settled) => afterGuards(found, settled, own.upgrade, req));
        return afterGuards(found, refusal, own.upgrade, req);
      },
      // Synchronous unless a hook of the gateway's returns a promise: Nest's connection handler
      // binds the message handlers, and core holds messages back only while `open` is pending.
      open: (ws: Connection<any, any, any>) => (own.open ? settle(own.open(ws), () => listened(ws)) : listened(ws)),
      message:
        own.message ??
        (listener ? undefined : (ws: Connection<any, any, any>, data: unknown) => router.dispatch(ws, data, parser)),
      close: (ws: Connection<any, any, any>, event: CloseEvent) => {
        router.closed(ws, event);
        return own.close?.(ws, event);
      },
    };
    if (handlers.message === undefined) delete handlers.message;
    // A close hook makes core read each client's address before its socket goes, for whoever
    // reads it in the hook: only a path where Nest calls handleDisconnect, or the gateway's own
    // `close`, needs one. Observables still sending stop on the connection's close anyway.
    if (own.close === undefined && !hearsDisconnect(this.#app, path)) delete handlers.close;
    const endpoint = createEndpoint<any>(handlers, this.#defaults);
    server = new SwitchyardServer(path, endpoint);
    const host: PathHost = { path, endpoint };
    if (this.#middlewareReady) this.#mount(host);
    else this.#waiting.push(host);
    return server;
  }

  /** Nest's connection event: `handleConnection(ws, request)` (the request as core keeps it). */
  override bindClientConnect(
    server: SwitchyardServer,
    callback: (ws: Connection<any, any, any>, request: RequestInfo) => void,
  ): void {
    server.on('connection', callback);
  }

  /** Nest's disconnect event: `handleDisconnect(ws)`, after the close, with its code and reason. */
  override bindClientDisconnect(client: Connection<any, any, any>, callback: (reason: CloseEvent) => void): void {
    this.#router.onClose(client, callback);
  }

  /** Nest's `@SubscribeMessage` handlers for one connection. */
  bindMessageHandlers(
    client: Connection<any, any, any>,
    handlers: MessageMappingProperties[],
    transform: (data: unknown) => Observable<unknown>,
  ): void {
    this.#router.bind(client, handlers, transform);
  }

  /** `app.close()`: every connection gets 1001 and its close handlers finish. */
  override async close(server: SwitchyardServer): Promise<void> {
    await server.close();
  }
}

/** Runs `then` after `result`: at once for a plain value, after it settles for a promise. */
function settle(result: unknown, then: () => unknown): unknown {
  return isThenable(result) ? result.then(then) : then();
}

/**
 * After the guards: their refusal, else the gateway's own `upgrade` hook, whose error goes
 * through the gateways' filters as a guard's does, else the default context.
 */
function afterGuards(
  gateways: readonly Gateway[],
  refusal: Refusal | undefined,
  upgrade: Handlers<any, any, any>['upgrade'],
  req: UpgradeRequest,
): UpgradeResult<any> | Promise<UpgradeResult<any>> {
  if (refusal) return reject(refusal.status, refusal.message, refusal.headers);
  if (upgrade === undefined) return { context: { user: req.state.user } };
  return ownUpgrade(gateways, upgrade, req);
}

async function ownUpgrade(
  gateways: readonly Gateway[],
  upgrade: NonNullable<Handlers<any, any, any>['upgrade']>,
  req: UpgradeRequest,
): Promise<UpgradeResult<any>> {
  try {
    return await upgrade(req);
  } catch (error) {
    const answer = await refusalFor(gateways, error, req.state);
    if (answer) return reject(answer.status, answer.message, answer.headers);
    throw error;
  }
}
