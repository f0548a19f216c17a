/**
 * `upgradeWebSocket()` with Hono's signature (`hono/ws`'s `UpgradeWebSocket`), so that an app on
 * @hono/node-ws moves over by changing its import:
 *
 *   app.get('/ws', upgradeWebSocket((c) => ({ onOpen, onMessage, onClose, onError }), options));
 *   app.get('/ws', (c) => upgradeWebSocket(c, { onMessage }, options));
 *
 * Each call with a `createEvents` function is one switchyard endpoint; `options` are every
 * endpoint option (protocols, heartbeat, caps, rate limits, fallback, hub, recovery). Handlers
 * get Hono's `WSContext` and events, with the switchyard `Connection` as `ws.raw`.
 */
import type { IncomingMessage } from 'node:http';
import { ErrorCode, createEndpoint } from '@switchyard/core';
import { withCode } from '@switchyard/core/internal';
import type { Connection, Endpoint, EndpointOptions, Hooks, ShutdownOptions } from '@switchyard/core';
import type { Context, Env, Input, MiddlewareHandler, TypedResponse } from 'hono';
import type { BlankInput } from 'hono/types';
import type { StatusCode } from 'hono/utils/http-status';
import { closeEvent, errorEvent, messageEvent, openEvent, wsContextOf } from './events.js';
import type { HonoSide, WSEvents } from './types.js';
import { handleOnNode } from './node-request.js';
import type { NodeOptions } from './node-request.js';

/** The options of {@link upgradeWebSocket}: every endpoint option, and Hono's `onError`. */
export interface UpgradeWebSocketOptions extends EndpointOptions, NodeOptions {
  /**
   * Takes what a handler threw (@hono/node-ws's option of this name). Without it, switchyard's
   * policy holds: the error is logged and the connection closes with 1011.
   */
  onError?: (error: unknown) => void;
  /** Told of each handshake that core refused (status, reason, path, address). */
  rejected?: Hooks<undefined>['rejected'];
}

/** The events a handler returns: Hono's, with the switchyard Connection as `ws.raw`. */
export type Events = WSEvents<Connection<HonoSide>>;

/** The middleware `upgradeWebSocket(createEvents)` returns, with its endpoint. */
export type UpgradeWebSocketHandler<
  E extends Env = any,
  P extends string = any,
  I extends Input = BlankInput,
> = MiddlewareHandler<E, P, I & { outputFormat: 'ws' }> & {
  /** The core endpoint: settings and live connections. */
  readonly endpoint: Endpoint<HonoSide>;
  /** Closes this endpoint's connections (1001) and waits for their close handlers. */
  close(options?: ShutdownOptions): Promise<void>;
};

/** What creates a connection's events from the Hono context of its handshake. */
type CreateEvents = (c: Context) => Events | Promise<Events>;

/** A Hono-style endpoint: events per handshake, from the request's Hono context. */
function honoEndpoint(options: UpgradeWebSocketOptions | undefined): {
  endpoint: Endpoint<HonoSide>;
  node: NodeOptions;
  pending: WeakMap<IncomingMessage, { c: Context; create: CreateEvents }>;
} {
  const pending = new WeakMap<IncomingMessage, { c: Context; create: CreateEvents }>();
  const { onError, rejected, trustProxy, ...settings } = options ?? {};
  const handlers: Hooks<HonoSide> & EndpointOptions = {
    ...settings,
    upgrade(req) {
      const entry = pending.get(req.raw);
      pending.delete(req.raw);
      if (entry === undefined) return { context: { events: {}, url: req.url } };
      const url = entry.c.req.url;
      const events = entry.create(entry.c);
      if (events instanceof Promise) return events.then((resolved) => ({ context: { events: resolved ?? {}, url } }));
      return { context: { events: events ?? {}, url } };
    },
    open(ws) {
      const side = ws.context;
      // Protocol errors of the peer (1002, 1007, 1009): Hono's onError, as ws's 'error' event is on @hono/node-ws.
      if (side.events.onError) ws.on('error', (error) => side.events.onError?.(errorEvent(error), wsContextOf(ws)));
      return side.events.onOpen?.(openEvent(), wsContextOf(ws));
    },
    message(ws, data, isBinary) {
      return ws.context.events.onMessage?.(messageEvent(data, isBinary), wsContextOf(ws));
    },
    close(ws, event) {
      return ws.context.events.onClose?.(closeEvent(event), wsContextOf(ws));
    },
  };
  if (onError) handlers.error = (_ws, error) => onError(error);
  if (rejected) handlers.rejected = rejected;
  return { endpoint: createEndpoint<HonoSide>(handlers), node: { trustProxy }, pending };
}

/** The endpoints of the `upgradeWebSocket(c, events, options)` form, one per options object. */
const directEndpoints = new WeakMap<object, ReturnType<typeof honoEndpoint>>();
let directDefault: ReturnType<typeof honoEndpoint> | undefined;

function directEndpoint(options: UpgradeWebSocketOptions | undefined): ReturnType<typeof honoEndpoint> {
  if (options === undefined) {
    directDefault ??= honoEndpoint(undefined);
    return directDefault;
  }
  let found = directEndpoints.get(options);
  if (found === undefined) {
    found = honoEndpoint(options);
    directEndpoints.set(options, found);
  }
  return found;
}

/**
 * Upgrades the WebSocket requests reaching it (and serves the fallback's SSE and POSTs), with
 * Hono's handler shape. Plain requests go on to the next handler.
 */
export function upgradeWebSocket<E extends Env = any, P extends string = any, I extends Input = BlankInput>(
  createEvents: (c: Context<E, P, I>) => Events | Promise<Events>,
  options?: UpgradeWebSocketOptions,
): UpgradeWebSocketHandler<E, P, I>;
/** Inside a handler: upgrades this request, or throws when it is no WebSocket handshake. */
export function upgradeWebSocket(
  c: Context,
  events: Events,
  options?: UpgradeWebSocketOptions,
): Promise<Response & TypedResponse<BlankInput, StatusCode, 'ws'>>;
export function upgradeWebSocket(
  first: ((c: Context) => Events | Promise<Events>) | Context,
  second?: UpgradeWebSocketOptions | Events,
  third?: UpgradeWebSocketOptions,
): UpgradeWebSocketHandler | Promise<Response & TypedResponse<BlankInput, StatusCode, 'ws'>> {
  if (typeof first === 'function') {
    const createEvents = first;
    const { endpoint, node, pending } = honoEndpoint(second as UpgradeWebSocketOptions | undefined);
    const middleware: MiddlewareHandler = (c, next) =>
      handleOnNode(c, endpoint, middleware, node, (incoming) => pending.set(incoming, { c, create: createEvents })) ??
      next();
    return Object.assign(middleware, {
      endpoint,
      close: (closeOptions?: ShutdownOptions) => endpoint.close(closeOptions),
    }) as UpgradeWebSocketHandler;
  }
  const c = first;
  const events = (second ?? {}) as Events;
  const { endpoint, node, pending } = directEndpoint(third);
  try {
    const sent = handleOnNode(c, endpoint, undefined, node, (incoming) =>
      pending.set(incoming, { c, create: () => events }),
    );
    if (sent === undefined) throw withCode(new Error('Failed to upgrade WebSocket'), ErrorCode.NOT_A_HANDSHAKE);
    return sent as Promise<Response & TypedResponse<BlankInput, StatusCode, 'ws'>>;
  } catch (error) {
    return Promise.reject(error);
  }
}
