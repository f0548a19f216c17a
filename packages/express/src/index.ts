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
import { expressUpgradeShape, shapeUpgradeRequests } from '@switchyard/core/internal';
import type { Server } from 'node:http';

// All of core's API an app calls, from the one list in core (`@switchyard/core/app`), so that an app
// installs and imports this package alone.
export * from '@switchyard/core/app';

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
  /** The last server this middleware shaped the upgrades of (see expressUpgradeShape). */
  let shaped: Server | undefined;
  const middleware = (req: Request, res: Response, next: NextFunction): void => {
    if (!endpoint.handles(req, req.originalUrl)) return next();
    // Express adds properties to each request after swapping its prototype: added before it runs,
    // on the server's later upgrades, they cost a plain store instead of a new hidden class apiece.
    const server = (req.socket as { server?: Server } | undefined)?.server;
    if (server !== shaped && server !== undefined) {
      shaped = server;
      shapeUpgradeRequests(server, expressUpgradeShape);
    }
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
