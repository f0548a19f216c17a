/**
 * `createNodeWebSocket()`, @hono/node-ws's entry point, so that an app written for it moves over
 * by changing its import alone:
 *
 *   const { upgradeWebSocket, injectWebSocket } = createNodeWebSocket({ app });
 *   app.get('/ws', upgradeWebSocket(() => ({ onMessage(event, ws) { ws.send(event.data) } })));
 *   injectWebSocket(serve({ fetch: app.fetch, port: 3000 }));
 *
 * switchyard needs neither the app nor the server: Hono middleware runs on @hono/node-server's
 * own request path, and core takes over a server's upgrades the first time it sees one. So
 * `upgradeWebSocket` is the package's own, and `injectWebSocket(server)` only routes the server's
 * upgrades now (core's `routeUpgrades`), which matters only beside another `upgrade` listener.
 */
import type { Server as HttpServer } from 'node:http';
import type { Http2SecureServer, Http2Server } from 'node:http2';
import type { Server as HttpsServer } from 'node:https';
import { routeUpgrades } from '@switchyard/core';
import { upgradeWebSocket } from './upgrade-websocket.js';

/** What `createNodeWebSocket()` takes: @hono/node-ws's options, accepted and not needed. */
export interface NodeWebSocketInit {
  /** The Hono app. @hono/node-ws runs it a second time per handshake; switchyard doesn't need it. */
  app?: unknown;
  /**
   * @hono/node-ws's base of `c.req.url` for handshakes. Here handshakes run through
   * @hono/node-server like every request, whose URL comes from the Host header.
   */
  baseUrl?: string | URL;
}

/** What `createNodeWebSocket()` returns. */
export interface NodeWebSocket {
  /** This package's {@link upgradeWebSocket}. */
  upgradeWebSocket: typeof upgradeWebSocket;
  /** Routes `server`'s upgrade requests through its Hono app now rather than at the first one. */
  injectWebSocket(server: HttpServer | HttpsServer | Http2Server | Http2SecureServer): void;
}

/** @hono/node-ws's `createNodeWebSocket({ app })`, over switchyard. */
export function createNodeWebSocket(_init?: NodeWebSocketInit): NodeWebSocket {
  return {
    upgradeWebSocket,
    injectWebSocket(server) {
      routeUpgrades(server as HttpServer);
    },
  };
}
