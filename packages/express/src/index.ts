/**
 * @switchyard/express: WebSockets as ordinary Express middleware.
 *
 *   app.use('/chat', requireUser, websocket({ protocols: ['chat'], message(ws, data) { ... } }));
 *
 * Everything mounted before `websocket()` runs before the 101, so it can still answer with
 * HTTP; plain requests pass through to the next handler. The same middleware also serves the
 * SSE + POST fallback of `@switchyard/client` (mount it with `app.use` or `router.all` so that
 * its POSTs reach it). All protocol work is in core.
 */
import type { NextFunction, Request, Response } from 'express';
import { createEndpoint } from '@switchyard/core';
import type { ConnectionListener, Endpoint, EndpointOptions, Handlers, ShutdownOptions } from '@switchyard/core';

// All of core's API an app calls, so that an app installs and imports this package alone: an
// explicit list, so that core's additions reach this package's API only by choice
// (test/exports.test.ts fails until they are listed here). Left out: createEndpoint and
// RequestExtras, which are for writing an adapter; they stay in @switchyard/core.
export {
  CHANNELS,
  CloseCode,
  DEFAULT_KEPT_HEADERS,
  Connection,
  ErrorCode,
  HandshakeRejection,
  Hub,
  RequestInfo,
  UpgradeRequest,
  createHub,
  injectWebSocket,
  isHandshakeRejection,
  isSendableCloseCode,
  isWebSocketRequest,
  parseProtocols,
  reject,
  routeUpgrades,
  selectProtocol,
  shutdown,
} from '@switchyard/core';
export type {
  BackpressureMessage,
  CloseCodeName,
  ClosedBy,
  CloseEvent,
  CloseMessage,
  CompressionOptions,
  ConnectionEvents,
  ConnectionListener,
  ControlRateOptions,
  DurableEntry,
  DurableStore,
  Endpoint,
  EndpointOptions,
  EndpointStatsSnapshot,
  ErrorCodeName,
  ErrorMessage,
  FallbackMessage,
  FallbackOptions,
  Handlers,
  HandshakeEndMessage,
  HandshakeRateOptions,
  HandshakeStartMessage,
  HeartbeatOptions,
  Hooks,
  HubEvents,
  HubOutage,
  HubStats,
  InjectOptions,
  LimitMessage,
  LimitName,
  MessageMessage,
  MessageOf,
  OpenMessage,
  OutgoingOf,
  Peer,
  ProtocolOption,
  Query,
  QueuedMessage,
  RateLimitOptions,
  RecoveryOptions,
  RejectionHeaders,
  RejectionInfo,
  RttSummary,
  SchemaOptions,
  SendData,
  ShutdownOptions,
  StandardSchemaV1,
  StreamPosition,
  Transport,
  UnrecoverableReason,
  UpgradeResult,
} from '@switchyard/core';

/** The middleware `websocket()` returns, with its endpoint for shutdown and inspection. */
export interface WebSocketMiddleware<Context = undefined> {
  (req: Request, res: Response, next: NextFunction): void;
  /** The core endpoint: settings and live connections. */
  readonly endpoint: Endpoint<Context>;
  /** Closes this endpoint's connections (1001) and waits for their close handlers. */
  close(options?: ShutdownOptions): Promise<void>;
}

/** What Express's Route exposes about its methods and handlers (router@2). */
interface ExpressRoute {
  readonly methods: Record<string, boolean | undefined>;
  readonly stack: ReadonlyArray<{ readonly handle: unknown }>;
}

/**
 * False when this middleware runs inside a route that does not take POST (`router.get(path,
 * websocket(...))`): the fallback's POSTs to the same URL would end in another handler or a 404.
 */
function postReachable(route: ExpressRoute | undefined, middleware: unknown): boolean {
  if (route === undefined || !route.stack.some((layer) => layer.handle === middleware)) return true;
  return Boolean(route.methods._all || route.methods.post);
}

/** Creates Express middleware that upgrades WebSocket requests reaching it. */
export function websocket<Context = undefined, MessageSchema = undefined, OutgoingSchema = undefined>(
  handlers: Handlers<Context, MessageSchema, OutgoingSchema>,
  defaults?: EndpointOptions,
): WebSocketMiddleware<Context>;
/** Faye style: `listener(ws, request)` runs per connection and attaches its own listeners. */
export function websocket(listener: ConnectionListener, options?: EndpointOptions): WebSocketMiddleware<undefined>;
export function websocket<Context>(
  handlers: Handlers<Context, unknown, unknown> | ConnectionListener,
  defaults?: EndpointOptions,
): WebSocketMiddleware<Context> {
  const endpoint = createEndpoint<Context>(handlers as Handlers<Context> | ConnectionListener, defaults);
  const middleware = (req: Request, res: Response, next: NextFunction): void => {
    if (!endpoint.handles(req, req.originalUrl)) return next();
    void endpoint.handle(req, res, {
      url: req.originalUrl,
      params: req.params as Record<string, string>,
      state: res.locals,
      // req.ip follows the app's `trust proxy`; without it the socket's address (read lazily) is the truth.
      remoteAddress: req.app.get('trust proxy') ? req.ip : undefined,
      postReachable: postReachable(req.route as ExpressRoute | undefined, middleware),
    });
  };
  return Object.assign(middleware, {
    endpoint,
    close: (options?: ShutdownOptions) => endpoint.close(options),
  });
}
