/**
 * @switchyard/client: a WebSocket-like client for switchyard endpoints that falls back to SSE +
 * POST when WebSockets are blocked, reconnects with backoff, and keeps what the app sends in order.
 *
 *   import { connect } from '@switchyard/client';
 *   const socket = connect('/chat', { protocols: ['chat'] });
 *   socket.onmessage = (event) => console.log(event.data);
 *   socket.send('hello');
 */
export { connect, SwitchyardSocket, UnrecoverableEvent } from './socket.js';
export type { UnrecoverableTopic } from './recovery.js';
export type { SwitchyardSocketEventMap } from './socket.js';
export { CloseEvent } from './events.js';
export type { CloseEventInit, SocketMessageEvent } from './events.js';
export { CloseCode, isTransient } from './close-codes.js';
export { ErrorCode } from './errors.js';
export type { ErrorCodeName } from './errors.js';
export type { ConnectOptions } from './options.js';
export type { ReconnectOptions } from './backoff.js';
export type { TransportName } from './transport.js';
export type { WebSocketConstructor, WebSocketLike } from './websocket-transport.js';
