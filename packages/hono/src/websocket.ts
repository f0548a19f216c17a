/**
 * `websocket(handlers, options)`: switchyard's own handler object as Hono middleware, the same
 * object the Express, Koa and Fastify adapters take.
 *
 *   app.all('/rooms/:id', websocket({ protocols: ['chat'], message(ws, data) { ... } }));
 *
 * The `upgrade` hook sees Hono's route parameters as `req.params` and what middleware stored
 * with `c.set()` as `req.state`.
 */
import { createEndpoint } from '@switchyard/core';
import type { ConnectionListener, Endpoint, EndpointOptions, Handlers, ShutdownOptions } from '@switchyard/core';
import type { Env, Input, MiddlewareHandler } from 'hono';
import type { BlankInput } from 'hono/types';
import { handleOnNode } from './node-request.js';
import type { NodeOptions } from './node-request.js';

/** The second argument of `websocket()`: endpoint defaults, and how to read the client's address. */
export interface WebSocketOptions extends EndpointOptions, NodeOptions {}

/** The middleware `websocket()` returns, with its endpoint for shutdown and inspection. */
export type WebSocketMiddleware<
  Context = undefined,
  E extends Env = any,
  P extends string = string,
  I extends Input = BlankInput,
> = MiddlewareHandler<E, P, I> & {
  /** The core endpoint: settings and live connections. */
  readonly endpoint: Endpoint<Context>;
  /** Closes this endpoint's connections (1001) and waits for their close handlers. */
  close(options?: ShutdownOptions): Promise<void>;
};

/** Creates Hono middleware that upgrades the WebSocket requests reaching it. */
export function websocket<Context = undefined, MessageSchema = undefined, OutgoingSchema = undefined>(
  handlers: Handlers<Context, MessageSchema, OutgoingSchema>,
  defaults?: WebSocketOptions,
): WebSocketMiddleware<Context>;
/** Faye style: `listener(ws, request)` runs per connection and attaches its own listeners. */
export function websocket(listener: ConnectionListener, options?: WebSocketOptions): WebSocketMiddleware<undefined>;
export function websocket<Context>(
  handlers: Handlers<Context, unknown, unknown> | ConnectionListener,
  defaults?: WebSocketOptions,
): WebSocketMiddleware<Context> {
  const { trustProxy, ...settings } = defaults ?? {};
  const endpoint = createEndpoint<Context>(handlers as Handlers<Context> | ConnectionListener, settings);
  const node = { trustProxy };
  const middleware: MiddlewareHandler = (c, next) => handleOnNode(c, endpoint, middleware, node) ?? next();
  return Object.assign(middleware, {
    endpoint,
    close: (options?: ShutdownOptions) => endpoint.close(options),
  });
}
