/**
 * The one translation every @switchyard/hono middleware shares: from a Hono context on
 * @hono/node-server to core's `endpoint.handle(req, res)`. @hono/node-server hands the Node
 * request and response to the app as `c.env.incoming` / `c.env.outgoing`; core takes the socket
 * from there, and the middleware tells @hono/node-server that the answer is already sent.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response';
import { ErrorCode } from '@switchyard/core';
import { withCode } from '@switchyard/core/internal';
import type { Endpoint } from '@switchyard/core';
import type { Context } from 'hono';

/** What @hono/node-server passes as the app's `env`. */
interface NodeBindings {
  incoming?: IncomingMessage;
  outgoing?: ServerResponse;
}

/** The Node request and response under a Hono context, when the app runs on @hono/node-server. */
export function nodeRequestOf(
  c: Context,
): { incoming: IncomingMessage; outgoing: ServerResponse | undefined } | undefined {
  const env = c.env as NodeBindings | undefined;
  const incoming = env?.incoming;
  if (incoming === undefined || typeof incoming !== 'object' || typeof incoming.headers !== 'object') return undefined;
  return { incoming, outgoing: env?.outgoing };
}

/** A route of `c.req.matchedRoutes`: which handler a method and path reached. */
interface MatchedRoute {
  readonly method: string;
  readonly handler: unknown;
}

/**
 * False when every route that runs `middleware` is bound to methods without POST
 * (`app.get(path, upgradeWebSocket(...))`): the fallback's POSTs to the same URL never reach it.
 */
function postReachable(c: Context, middleware: unknown): boolean {
  const matched = (c.req as unknown as { matchedRoutes?: readonly MatchedRoute[] }).matchedRoutes ?? [];
  const routes = matched.filter((route) => route.handler === middleware);
  return routes.length === 0 || routes.some((route) => route.method === 'ALL' || route.method === 'POST');
}

/** How a middleware reaches core: the options that are the adapter's, not the endpoint's. */
export interface NodeOptions {
  /**
   * Which peers' `X-Forwarded-For` to believe, as Express's `trust proxy`: `true` trusts every
   * hop (the client is the first entry), a function trusts the addresses it returns true for
   * (walking from the socket's address leftwards through the header). The result is the client's
   * address for `maxConnectionsPerAddress`, `handshakeRate` and `req.remoteAddress`. Hono has no
   * app-wide setting for this; without it the socket's address counts, so that a client can
   * never choose its address with a header. Default false.
   */
  trustProxy?: boolean | ((address: string) => boolean);
}

/** The client's address through the proxies `trust` believes, or undefined for the socket's own. */
function forwardedAddress(incoming: IncomingMessage, trust: NodeOptions['trustProxy']): string | undefined {
  if (!trust) return undefined;
  const header = incoming.headers['x-forwarded-for'];
  const value = Array.isArray(header) ? header.join(',') : header;
  if (value === undefined) return undefined;
  const hops = value.split(',').map((hop) => hop.trim());
  let address = incoming.socket.remoteAddress ?? '';
  for (let i = hops.length - 1; i >= 0; i--) {
    if (trust !== true && !trust(address)) break;
    address = hops[i]!;
  }
  return address;
}

/**
 * Runs `endpoint` for the requests it handles (WebSocket handshakes, the fallback's SSE and
 * POSTs): resolves to the response @hono/node-server must not write, or returns undefined for a
 * request the endpoint leaves to the next handler. Not an async function: a plain request costs
 * no promise, and a handshake one.
 */
export function handleOnNode<Context_>(
  c: Context,
  endpoint: Endpoint<Context_>,
  middleware: unknown,
  options: NodeOptions,
  before?: (incoming: IncomingMessage) => void,
): Promise<Response> | undefined {
  const node = nodeRequestOf(c);
  if (node === undefined) {
    // An upgrade request outside @hono/node-server (`app.request()`, Bun, Deno).
    if (c.req.header('upgrade')?.toLowerCase() === 'websocket')
      throw withCode(
        new Error(
          '@switchyard/hono upgrades WebSockets on @hono/node-server only: c.env.incoming is missing. Serve the app ' +
            "with serve() from '@hono/node-server' (or createAdaptorServer), or test it with injectWebSocket(server).",
        ),
        ErrorCode.UNSUPPORTED_RUNTIME,
      );
    return undefined;
  }
  const { incoming, outgoing } = node;
  // incoming.url is what the client sent: Hono's basePath and route() never rewrite it.
  const url = incoming.url ?? '/';
  if (!endpoint.handles(incoming, url)) return undefined;
  before?.(incoming);
  return endpoint
    .handle(incoming, outgoing, {
      url,
      params: c.req.param() as Record<string, string>,
      state: c.var as Record<string, unknown>,
      remoteAddress: forwardedAddress(incoming, options.trustProxy),
      // Read by the fallback's POSTs only; a handshake skips walking the matched routes.
      postReachable: incoming.headers.upgrade === undefined ? postReachable(c, middleware) : undefined,
    })
    .then(alreadySent);
}

function alreadySent(): Response {
  return RESPONSE_ALREADY_SENT;
}
