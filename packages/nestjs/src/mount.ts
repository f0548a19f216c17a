/**
 * Where a gateway's path meets the framework under Nest: a route on Express or Fastify that hands
 * WebSocket handshakes and the fallback's requests to core, after Nest's middleware. The
 * framework's request goes along as the handshake's `state`, for the gateway's guards, which core
 * runs as its `upgrade` hook. This file only translates between the two frameworks and core.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Endpoint } from '@switchyard/core';

/** What the mount needs of the adapter for one path. */
export interface PathHost {
  readonly path: string;
  readonly endpoint: Endpoint<any>;
}

interface ExpressRequest extends IncomingMessage {
  originalUrl: string;
  params: Record<string, string>;
  ip?: string;
  app: { get(name: string): unknown };
}
type Next = (error?: unknown) => void;
interface ExpressApp {
  all(path: string, handler: (req: ExpressRequest, res: ServerResponse, next: Next) => void): void;
}

/** Express: `app.all(path)`; a plain request goes on to the app's own routes (a page on the same path). */
export function mountExpress(app: ExpressApp, host: PathHost): void {
  app.all(host.path, (req, res, next) => {
    if (!host.endpoint.handles(req, req.originalUrl)) return next();
    void host.endpoint.handle(req, res, {
      url: req.originalUrl,
      params: req.params,
      // The request itself: what guards read, and what middleware set on it (req.user).
      state: req as unknown as Record<string, unknown>,
      remoteAddress: req.app.get('trust proxy') ? req.ip : undefined,
    });
  });
}

interface FastifyRequest {
  raw: IncomingMessage & { body?: unknown };
  url: string;
  params: unknown;
  body?: unknown;
  ip: string;
}
interface FastifyReply {
  raw: ServerResponse;
  hijack(): void;
  code(status: number): FastifyReply;
  header(name: string, value: string): FastifyReply;
  type(type: string): FastifyReply;
  send(body?: unknown): FastifyReply;
}
type FastifyHandler = (this: unknown, request: FastifyRequest, reply: FastifyReply) => unknown;
interface FastifyRoute {
  method: string | string[];
  url: string;
  handler: FastifyHandler;
}
interface FastifyApp {
  route(options: FastifyRoute): unknown;
  addHook(name: 'onRoute', hook: (route: FastifyRoute) => void): unknown;
}

/**
 * Fastify routes by method and path, and refuses a second route on the same ones: a controller's
 * `@Get()` on a gateway's path would clash with the gateway's route. So the app's own routes on a
 * gateway path keep their handler, behind a check that hands handshakes and the fallback's
 * requests to core, and the gateway's route (GET and POST) takes only the methods the app left.
 */
export class FastifyMount {
  readonly #app: FastifyApp;
  readonly #hosts = new Map<string, PathHost>();
  /** Per gateway path, the methods the app's own routes declared. */
  readonly #taken = new Map<string, Set<string>>();
  readonly #own = new WeakSet<FastifyHandler>();
  #routed = false;

  constructor(app: FastifyApp) {
    this.#app = app;
    app.addHook('onRoute', (route) => this.#onRoute(route));
  }

  /** A gateway path; its route waits for the app's routes (`route()`), unless they are in. */
  add(host: PathHost): void {
    this.#hosts.set(host.path, host);
    if (this.#routed) this.#routeHost(host);
  }

  /** The app's routes are declared: each gateway path gets a route for the methods left. */
  route(): void {
    if (this.#routed) return;
    this.#routed = true;
    for (const host of this.#hosts.values()) this.#routeHost(host);
  }

  #routeHost(host: PathHost): void {
    const taken = this.#taken.get(host.path);
    const methods = ['GET', 'POST'].filter((method) => !taken?.has(method));
    if (methods.length === 0) return;
    const handler: FastifyHandler = (request, reply) => {
      if (host.endpoint.handles(request.raw, request.url)) return this.#handOver(host, request, reply);
      if (request.raw.method === 'POST')
        return reply.code(405).header('Allow', 'GET').type('text/plain; charset=utf-8').send('Method Not Allowed\n');
      // RFC 9110 §15.5.22: the protocol to switch to, with its Connection option.
      return reply
        .code(426)
        .header('Upgrade', 'websocket')
        .header('Connection', 'Upgrade')
        .type('text/plain; charset=utf-8')
        .send('Upgrade Required: this route only speaks WebSocket\n');
    };
    this.#own.add(handler);
    this.#app.route({ method: methods, url: host.path, handler });
  }

  #onRoute(route: FastifyRoute): void {
    const host = this.#hosts.get(route.url);
    if (host === undefined || this.#own.has(route.handler)) return;
    const methods = (Array.isArray(route.method) ? route.method : [route.method]).map((m) => m.toUpperCase());
    if (!methods.includes('GET') && !methods.includes('POST')) return;
    let taken = this.#taken.get(host.path);
    if (taken === undefined) this.#taken.set(host.path, (taken = new Set()));
    for (const method of methods) taken.add(method);
    const original = route.handler;
    const mount = this;
    route.handler = function (request, reply) {
      if (host.endpoint.handles(request.raw, request.url)) return mount.#handOver(host, request, reply);
      return Reflect.apply(original, this, [request, reply]);
    };
  }

  async #handOver(host: PathHost, request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    reply.hijack();
    if (request.body !== undefined) request.raw.body = request.body;
    await host.endpoint.handle(request.raw, reply.raw, {
      url: request.url,
      params: paramStrings(request.params),
      state: request as unknown as Record<string, unknown>,
      // Fastify defines `ips` only with trustProxy; then request.ip is its answer from
      // X-Forwarded-For. (Fastify's `initialConfig` does not hold trustProxy.)
      remoteAddress: 'ips' in request ? request.ip : undefined,
    });
    return reply;
  }
}

function paramStrings(params: unknown): Record<string, string> {
  const strings: Record<string, string> = {};
  for (const [name, value] of Object.entries((params ?? {}) as Record<string, unknown>)) strings[name] = String(value);
  return strings;
}
