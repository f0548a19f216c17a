/**
 * @switchyard/hono: WebSockets for Hono on @hono/node-server, with Hono's own API.
 *
 *   app.use('/ws', bearerAuth({ token }));
 *   app.get('/ws', upgradeWebSocket((c) => ({ onMessage(event, ws) { ws.send(event.data) } }), { protocols: ['chat'] }));
 *
 * An upgrade request runs through every Hono middleware in front of the route, so a `401` from
 * `bearerAuth` or a `c.text(..., 403)` still goes out as HTTP; core then takes the socket from
 * Node's HTTP server. `websocket(handlers)` takes switchyard's own handler object instead.
 */
// All of core's API an app calls, from the one list in core (`@switchyard/core/app`), so that an app
// installs and imports this package alone.
export * from '@switchyard/core/app';
export { upgradeWebSocket } from './upgrade-websocket.js';
export type { UpgradeWebSocketHandler, UpgradeWebSocketOptions } from './upgrade-websocket.js';
export { createNodeWebSocket } from './node-ws.js';
export type { NodeWebSocket, NodeWebSocketInit } from './node-ws.js';
export { websocket } from './websocket.js';
export type { WebSocketMiddleware, WebSocketOptions } from './websocket.js';
export type { HonoSide, WSCloseEvent, WSContext, WSEvents, WSMessageEvent } from './types.js';
