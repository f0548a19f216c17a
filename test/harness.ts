import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ConnectionListener, Handlers } from '@switchyard/core';

/** What middleware in front of `websocket()` does with a request. */
export type GuardResult = undefined | { status: number; headers?: Record<string, string>; body: string } | Error;

/** One WebSocket endpoint in a test app, with the framework pieces around it. */
export interface Mount {
  /** Where it is mounted; may contain `:param` segments. */
  path: string;
  handlers: Handlers<any, any, any> | ConnectionListener;
  /** Middleware (or a hook) in front of the endpoint: pass, answer with HTTP, or fail. */
  guard?: (req: { url: string; headers: http.IncomingHttpHeaders }) => GuardResult | Promise<GuardResult>;
  /** What a plain GET on the same path answers, from a handler after the endpoint. */
  page?: string;
  /** Middleware that lets the request through, then answers it anyway after `ms`. */
  lateWrite?: { kind: 'send' | 'error'; ms: number };
  /** A value middleware stores in its per-request state (Express res.locals, Koa ctx.state) as `user`. */
  user?: string;
}

export interface ServeOptions {
  https?: { key: string; cert: string };
  server?: http.ServerOptions;
  /** Trust X-Forwarded-For from any peer (Express `trust proxy`, Koa `app.proxy`, Fastify `trustProxy`). */
  trustProxy?: boolean;
}

/** How one adapter builds a server for the shared suite. */
export interface Harness {
  name: string;
  /** A server serving `mounts`, not yet listening. */
  createServer(mounts: Mount[], options?: ServeOptions): Promise<http.Server>;
  /** The adapter's shutdown: clients get 1001 and close handlers run. */
  shutdown(server: http.Server): Promise<void>;
  /** Called before a test adds its own 'upgrade' listener to the server. */
  coexist?(server: http.Server): void;
  /**
   * What the framework answers for a method the route does not declare. Frameworks that route
   * by method (Fastify) answer 404 before any handler runs; the others reach the endpoint, which
   * answers 405. A websocket route always accepts POST (the fallback's frames), so POST handshakes
   * get core's 405 everywhere.
   */
  unroutedMethodStatus?: number;
}

export interface Started {
  server: http.Server;
  port: number;
  url(path: string): string;
  close(): Promise<void>;
}

export async function start(harness: Harness, mounts: Mount[], options: ServeOptions = {}): Promise<Started> {
  const server = await harness.createServer(mounts, options);
  const sockets = new Set<import('node:net').Socket>();
  server.on('connection', (socket: import('node:net').Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const scheme = options.https ? 'wss' : 'ws';
  return {
    server,
    port,
    url: (path) => `${scheme}://127.0.0.1:${port}${path}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      }),
  };
}
