/**
 * @switchyard/koa: WebSockets as ordinary Koa middleware.
 *
 *   app.use(auth);
 *   router.all('/rooms/:id', websocket({ protocols: ['chat'], message(ws, data) { ... } }));
 *
 * An upgrade request runs through every middleware in front of `websocket()`, so `ctx.throw(401)`
 * or a `ctx.status` with a body still goes out as HTTP; plain requests go on to `next()`. All
 * protocol work is in core.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createEndpoint } from '@switchyard/core';
import type { ConnectionListener, Endpoint, EndpointOptions, Handlers, ShutdownOptions } from '@switchyard/core';

// All of core's API an app calls, from the one list in core (`@switchyard/core/app`), so that an app
// installs and imports this package alone.
export * from '@switchyard/core/app';

/**
 * The parts of a Koa context the middleware reads and sets. Structural, so that it accepts the
 * context of any Koa 2 or 3 app and router whatever their state and context types.
 */
export interface KoaUpgradeContext {
  /** Node's request. */
  readonly req: IncomingMessage;
  /** Node's response; switchyard takes its socket. */
  readonly res: ServerResponse;
  /** The URL before any mount rewrote it. */
  readonly originalUrl: string;
  /** What earlier middleware left; reaches the `upgrade` hook as `req.state`. */
  readonly state: object;
  /** Route parameters from @koa/router; reach the `upgrade` hook as `req.params`. */
  readonly params?: Record<string, string>;
  /** Set to false on upgrade requests, so that Koa writes nothing after the hijack. */
  respond?: boolean | undefined;
  /** Set to what went out (101, or a rejection's status), for loggers upstream. */
  status: number;
  /** The client's address; from `X-Forwarded-For` when `app.proxy` is set. */
  readonly ip?: string;
  /** The Koa app; its `proxy` setting says whether forwarding headers are trusted. */
  readonly app?: { readonly proxy?: boolean };
  /** The @koa/router layers whose path matched, whatever their methods. */
  readonly matched?: ReadonlyArray<{ readonly methods: readonly string[]; readonly stack: readonly unknown[] }>;
}

/** The middleware `websocket()` returns, with its endpoint for shutdown and inspection. */
export interface WebSocketMiddleware<Context = undefined> {
  (ctx: KoaUpgradeContext, next: () => Promise<unknown>): Promise<void>;
  /** The core endpoint: settings and live connections. */
  readonly endpoint: Endpoint<Context>;
  /** Closes this endpoint's connections (1001) and waits for their close handlers. */
  close(options?: ShutdownOptions): Promise<void>;
}

/**
 * False when every @koa/router layer that runs this middleware is bound to methods without POST
 * (`router.get(path, websocket(...))`): the fallback's POSTs to the same URL would not reach it.
 */
function postReachable(matched: KoaUpgradeContext['matched'], middleware: unknown): boolean {
  const layers = matched?.filter((layer) => layer.stack.includes(middleware)) ?? [];
  return layers.length === 0 || layers.some((layer) => layer.methods.length === 0 || layer.methods.includes('POST'));
}

/** Creates Koa middleware that upgrades WebSocket requests reaching it. */
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
  const middleware = async (ctx: KoaUpgradeContext, next: () => Promise<unknown>): Promise<void> => {
    if (!endpoint.handles(ctx.req, ctx.originalUrl)) {
      await next();
      return;
    }
    // Set before the first await: whatever happens next, Koa's respond() must not write its
    // default 404 into the socket that core hands to the WebSocket or answers itself.
    ctx.respond = false;
    // Awaited, and next() deliberately not called: the upgrade ends the downstream chain, and
    // middleware upstream resumes only once the 101 (or core's HTTP rejection) has gone out.
    const status = await endpoint.handle(ctx.req, ctx.res, {
      url: ctx.originalUrl,
      params: ctx.params ?? {},
      state: ctx.state as Record<string, unknown>,
      // ctx.ip follows app.proxy; without it the socket's address (read lazily) is the truth.
      remoteAddress: ctx.app?.proxy ? ctx.ip : undefined,
      postReachable: postReachable(ctx.matched, middleware),
    });
    if (status !== 0) ctx.status = status;
  };
  return Object.assign(middleware, {
    endpoint,
    close: (options?: ShutdownOptions) => endpoint.close(options),
  });
}
