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
interface FastifyApp {
  route(options: {
    method: string[];
    url: string;
    handler: (request: FastifyRequest, reply: FastifyReply) => unknown;
  }): unknown;
  initialConfig: { trustProxy?: unknown };
}

/** Fastify: a GET and POST route on the path (Fastify routes by method, in any order). */
export function mountFastify(app: FastifyApp, host: PathHost): void {
  const trustProxy = Boolean(app.initialConfig.trustProxy);
  app.route({
    method: ['GET', 'POST'],
    url: host.path,
    async handler(request, reply) {
      if (!host.endpoint.handles(request.raw, request.url)) {
        if (request.raw.method === 'POST')
          return reply.code(405).header('Allow', 'GET').type('text/plain; charset=utf-8').send('Method Not Allowed\n');
        // RFC 9110 §15.5.22: the protocol to switch to, with its Connection option.
        return reply
          .code(426)
          .header('Upgrade', 'websocket')
          .header('Connection', 'Upgrade')
          .type('text/plain; charset=utf-8')
          .send('Upgrade Required: this route only speaks WebSocket\n');
      }
      reply.hijack();
      if (request.body !== undefined) request.raw.body = request.body;
      await host.endpoint.handle(request.raw, reply.raw, {
        url: request.url,
        params: paramStrings(request.params),
        state: request as unknown as Record<string, unknown>,
        remoteAddress: trustProxy ? request.ip : undefined,
      });
      return reply;
    },
  });
}

function paramStrings(params: unknown): Record<string, string> {
  const strings: Record<string, string> = {};
  for (const [name, value] of Object.entries((params ?? {}) as Record<string, unknown>)) strings[name] = String(value);
  return strings;
}
