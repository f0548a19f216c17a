import http from 'node:http';
import https from 'node:https';
import Fastify from 'fastify';
import type { FastifyInstance, FastifyReply, FastifyRequest, onRequestHookHandler } from 'fastify';
import websocket from '@switchyard/fastify';
import type { Harness, Mount, ServeOptions } from '../../../test/harness.js';

declare module 'fastify' {
  interface FastifyRequest {
    user: string | null;
  }
}

/** The suite's guard as a route-level onRequest hook: pass, answer with HTTP, or fail with Fastify's 500. */
function guardHook(guard: NonNullable<Mount['guard']>): onRequestHookHandler {
  return async (request: FastifyRequest, reply: FastifyReply) => {
    const result = await guard({ url: request.url, headers: request.headers });
    if (result instanceof Error) throw result;
    if (result)
      return reply
        .code(result.status)
        .headers(result.headers ?? {})
        .type('text/plain')
        .send(result.body);
    return undefined;
  };
}

/**
 * Lets the request through, then answers anyway. Fastify itself drops a late `reply.send()` once
 * the reply is hijacked (fastify.test.ts checks that), so this writes to the raw response, where
 * Express's late `res.send()` and finalhandler would write.
 */
function lateWriteHook({ kind, ms }: NonNullable<Mount['lateWrite']>): onRequestHookHandler {
  return (_request, reply, done) => {
    done();
    setTimeout(() => {
      const status = kind === 'send' ? 503 : 500;
      reply.raw.writeHead(status, { 'content-type': 'text/plain' });
      reply.raw.end(kind === 'send' ? 'late' : 'late failure');
    }, ms);
  };
}

/** Builds a Fastify app from the suite's mounts, on a server the suite will listen on itself. */
export async function buildApp(mounts: Mount[], options: ServeOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({
    trustProxy: options.trustProxy === true,
    serverFactory: (handler) =>
      options.https
        ? https.createServer({ ...options.server, ...options.https }, handler)
        : http.createServer(options.server ?? {}, handler),
  });
  await app.register(websocket);
  app.decorateRequest('user', null);
  for (const mount of mounts) {
    const onRequest: onRequestHookHandler[] = [];
    if (mount.user !== undefined) {
      const user = mount.user;
      onRequest.push((request, _reply, done) => {
        request.user = user;
        done();
      });
    }
    if (mount.guard) onRequest.push(guardHook(mount.guard));
    if (mount.lateWrite) onRequest.push(lateWriteHook(mount.lateWrite));
    const page = mount.page;
    app.route({
      method: 'GET',
      url: mount.path,
      websocket: mount.handlers,
      onRequest,
      ...(page === undefined
        ? {}
        : {
            handler: (_request: FastifyRequest, reply: FastifyReply) =>
              reply.type('text/html; charset=utf-8').send(page),
          }),
    });
  }
  await app.ready();
  return app;
}

const apps = new WeakMap<http.Server, FastifyInstance>();

export const fastifyHarness: Harness = {
  name: 'fastify',
  async createServer(mounts, options) {
    const app = await buildApp(mounts, options);
    apps.set(app.server, app);
    return app.server;
  },
  // app.close(): 1001 to every client, close handlers awaited. Fastify calls server.close() only
  // on a server it listened on itself, so the suite's own server.close() afterwards stays safe.
  shutdown: (server) => apps.get(server)!.close(),
  unroutedMethodStatus: 404,
};
