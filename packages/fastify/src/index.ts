/**
 * @switchyard/fastify: WebSockets as a Fastify route option.
 *
 *   await app.register(websocket, { heartbeat: { interval: 30_000 } });
 *   app.get('/chat', { websocket: chat }, (request, reply) => reply.send('a page, for plain GETs'));
 *   app.get('/rooms/:id', { websocket: chat, preValidation: auth });
 *
 * Upgrades travel Fastify's whole request lifecycle (hooks, schema validation, the 404 handler),
 * so anything can still answer with HTTP before the 101; the route handler then hijacks the
 * reply and hands the request to core. All protocol work is in core.
 */
import fp from 'fastify-plugin';
import type { FastifyInstance, FastifyReply, FastifyRequest, RouteOptions } from 'fastify';
import type WebSocket from 'ws';
import { ErrorCode, createEndpoint, injectWebSocket, routeUpgrades } from '@switchyard/core';
import { resolveOptions, withCode } from '@switchyard/core/internal';
import type { Endpoint, EndpointOptions, Handlers } from '@switchyard/core';

// All of core's API an app calls, from the one list in core (`@switchyard/core/app`), so that an app
// installs and imports this package alone.
export * from '@switchyard/core/app';
import './augment.js';

import type { InjectWSOptions } from './augment.js';
export type { InjectWSOptions, WebSocketRouteOption } from './augment.js';

const kRegistered = Symbol('switchyard.fastify.registered');

function upgradeRequired(_request: FastifyRequest, reply: FastifyReply): void {
  // RFC 9110 §15.5.22: a 426 names the protocol to switch to, with its Connection option.
  void reply
    .code(426)
    .header('Upgrade', 'websocket')
    .header('Connection', 'Upgrade')
    .type('text/plain; charset=utf-8')
    .send('Upgrade Required: this route only speaks WebSocket\n');
}

function switchyard(fastify: FastifyInstance, defaults: EndpointOptions, done: (error?: Error) => void): void {
  if (fastify.hasDecorator(kRegistered)) {
    // Both registrations would wrap the same routes; the outer one would win unseen.
    done(
      withCode(
        new Error('@switchyard/fastify is already registered in this scope or a parent; set options per route instead'),
        ErrorCode.ALREADY_REGISTERED,
      ),
    );
    return;
  }
  // Checked now, not at the first route: a wrong option (or @fastify/websocket's shape) fails the register.
  try {
    checkPluginOptions(defaults);
  } catch (error) {
    done(error as Error);
    return;
  }
  fastify.decorate(kRegistered, true);
  const endpoints: Endpoint<unknown>[] = [];
  // From now on every upgrade on this server goes through Fastify's router, so hooks, schemas
  // and the 404 handler answer it first, with real HTTP.
  routeUpgrades(fastify.server);

  // Fastify refuses a route without a handler (FST_ERR_ROUTE_MISSING_HANDLER) before any onRoute
  // hook could add one, so a WebSocket-only route gets its 426 handler as it is declared. Set on
  // this instance, the wrappers reach this scope and its children, as the onRoute hook does.
  const declareShorthand = fastify.get;
  const declareRoute = fastify.route;
  fastify.get = function get(this: FastifyInstance, path: string, options: unknown, handler?: unknown) {
    const page = handler === undefined && isWebSocketOnly(options) ? upgradeRequired : handler;
    return Reflect.apply(declareShorthand, this, [path, options, page]) as FastifyInstance;
  } as FastifyInstance['get'];
  fastify.route = function route(this: FastifyInstance, options: RouteOptions) {
    const withPage = isWebSocketOnly(options) ? { ...options, handler: upgradeRequired } : options;
    return Reflect.apply(declareRoute, this, [withPage]) as FastifyInstance;
  } as FastifyInstance['route'];

  fastify.addHook('onRoute', function onRoute(this: FastifyInstance, route) {
    const handlers = route.websocket;
    // Fastify's automatic HEAD twin of a GET route carries its options too; HEAD never upgrades.
    if (handlers === undefined || route.method === 'HEAD') return;
    if (route.method !== 'GET') {
      throw withCode(
        new TypeError(
          `websocket: route ${String(route.method)} ${route.url} must use GET, the only method of a WebSocket handshake`,
        ),
        ErrorCode.INVALID_METHOD,
      );
    }
    const endpoint = createEndpoint<unknown>(handlers as Handlers<unknown>, defaults);
    endpoints.push(endpoint);
    const page = route.handler;
    const hand = (request: FastifyRequest, reply: FastifyReply): void => {
      reply.hijack();
      // Fastify has parsed the fallback's POST body; core reads it from there.
      if (request.body !== undefined) (request.raw as typeof request.raw & { body?: unknown }).body = request.body;
      void endpoint.handle(request.raw, reply.raw, {
        url: request.url,
        params: paramStrings(request.params),
        // The request itself: what hooks decorated it with (request.user) reads as req.state.user.
        state: request as unknown as Record<string, unknown>,
        // Fastify defines `ips` only with trustProxy; then request.ip is its answer from X-Forwarded-For.
        remoteAddress: 'ips' in request ? request.ip : undefined,
      });
    };
    route.handler = function handler(this: FastifyInstance, request: FastifyRequest, reply: FastifyReply) {
      if (!endpoint.handles(request.raw, request.url)) return page.call(this, request, reply);
      hand(request, reply);
      return undefined;
    };
    if (endpoint.options.fallback === false) return;
    // The SSE fallback's frames arrive as POSTs on the same path, through the same hooks.
    this.route({
      ...pick(route, TWIN_OPTIONS),
      method: 'POST',
      url: route.url,
      handler(request: FastifyRequest, reply: FastifyReply) {
        if (endpoint.handles(request.raw, request.url)) return hand(request, reply);
        return reply.code(405).header('Allow', 'GET').type('text/plain; charset=utf-8').send('Method Not Allowed\n');
      },
    });
  });

  // Before the server stops: clients get 1001 and close handlers finish, as app.close() promises.
  fastify.addHook('preClose', async () => {
    await Promise.all(endpoints.map((endpoint) => endpoint.close()));
  });

  fastify.decorate('injectWS', injectWS);
  done();
}

/** @fastify/websocket's plugin options, and what takes their place here (docs/migration.md). */
const FASTIFY_WEBSOCKET_OPTIONS: Readonly<Record<string, string>> = {
  options: 'its ws settings are plugin options themselves: maxPayload, compression, protocols, origins',
  errorHandler: 'use the "error" hook (plugin option or per route)',
  preClose: 'app.close() already closes every connection with 1001; add your own preClose hook for more',
  connectionOptions: 'there is no stream to configure; iterate messages with for await (const message of ws)',
};

/**
 * Checks the plugin options as `register` runs, with core's own checks (an empty route merged
 * with them), so that a mistake fails the register and not the first route declared later.
 */
function checkPluginOptions(defaults: EndpointOptions): void {
  const given: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(defaults ?? {})) {
    const instead = FASTIFY_WEBSOCKET_OPTIONS[name];
    if (instead !== undefined) {
      throw withCode(
        new TypeError(`@switchyard/fastify: "${name}" is an option of @fastify/websocket; ${instead}`),
        ErrorCode.INVALID_OPTION,
      );
    }
    given[name] = value;
  }
  // A recovery default may rely on a hub that each route gives; the route's check covers that pair.
  if (given.recovery !== undefined && given.hub === undefined) delete given.recovery;
  resolveOptions({}, given as EndpointOptions);
}

/** What a websocket route's POST twin shares with it: hooks, config, constraints, and its querystring/params schema. */
const TWIN_OPTIONS = [
  'onRequest',
  'preParsing',
  'preValidation',
  'preHandler',
  'onSend',
  'onResponse',
  'onError',
  'onTimeout',
  'config',
  'constraints',
  'prefixTrailingSlash',
] as const;

function pick(route: RouteOptions, names: readonly string[]): Partial<RouteOptions> {
  const picked: Record<string, unknown> = {};
  for (const name of names)
    if ((route as unknown as Record<string, unknown>)[name] !== undefined)
      picked[name] = (route as unknown as Record<string, unknown>)[name];
  const schema = route.schema as Record<string, unknown> | undefined;
  if (schema)
    picked.schema = {
      ...(schema.querystring ? { querystring: schema.querystring } : {}),
      ...(schema.params ? { params: schema.params } : {}),
    };
  return picked as Partial<RouteOptions>;
}

/** Route params as strings, as core promises; a schema may have coerced them, and those values stay on req.state.params. */
function paramStrings(params: unknown): Record<string, string> {
  const strings: Record<string, string> = {};
  for (const [name, value] of Object.entries(params as Record<string, unknown>)) strings[name] = String(value);
  return strings;
}

function isWebSocketOnly(options: unknown): boolean {
  if (options === null || typeof options !== 'object') return false;
  const route = options as Partial<RouteOptions>;
  return route.websocket !== undefined && route.handler === undefined;
}

async function injectWS(this: FastifyInstance, path = '/', options: InjectWSOptions = {}): Promise<WebSocket> {
  await this.ready();
  return injectWebSocket(this.server, path, options);
}

/** The Fastify plugin: options are defaults for every `{ websocket }` route in its scope. */
const websocket = fp<EndpointOptions>(switchyard, { fastify: '5.x', name: '@switchyard/fastify' });

export default websocket;
