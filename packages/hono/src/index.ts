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
// All of core's API an app calls, so that an app installs and imports this package alone: an
// explicit list, so that core's additions reach this package's API only by choice
// (test/exports.test.ts fails until they are listed here). Left out: createEndpoint and
// RequestExtras, which are for writing an adapter; they stay in @switchyard/core.
export {
  CHANNELS,
  CloseCode,
  DEFAULT_KEPT_HEADERS,
  Connection,
  ErrorCode,
  HandshakeRejection,
  Hub,
  RequestInfo,
  UpgradeRequest,
  createHub,
  injectWebSocket,
  isHandshakeRejection,
  isSendableCloseCode,
  isWebSocketRequest,
  parseProtocols,
  reject,
  routeUpgrades,
  selectProtocol,
  shutdown,
} from '@switchyard/core';
export type {
  BackpressureMessage,
  CloseCodeName,
  ClosedBy,
  CloseEvent,
  CloseMessage,
  CompressionOptions,
  ConnectionEvents,
  ConnectionListener,
  ControlRateOptions,
  DurableEntry,
  DurableStore,
  Endpoint,
  EndpointOptions,
  EndpointStatsSnapshot,
  ErrorCodeName,
  ErrorMessage,
  FallbackMessage,
  FallbackOptions,
  Handlers,
  HandshakeEndMessage,
  HandshakeRateOptions,
  HandshakeStartMessage,
  HeartbeatOptions,
  Hooks,
  HubEvents,
  HubOutage,
  HubStats,
  InjectOptions,
  LimitMessage,
  LimitName,
  MessageMessage,
  MessageOf,
  OpenMessage,
  OutgoingOf,
  Peer,
  ProtocolOption,
  Query,
  QueuedMessage,
  RateLimitOptions,
  RecoveryOptions,
  RejectionHeaders,
  RejectionInfo,
  RttSummary,
  SchemaOptions,
  SendData,
  ShutdownOptions,
  StandardSchemaV1,
  StreamPosition,
  Transport,
  UnrecoverableReason,
  UpgradeResult,
} from '@switchyard/core';
export { upgradeWebSocket } from './upgrade-websocket.js';
export type { UpgradeWebSocketHandler, UpgradeWebSocketOptions } from './upgrade-websocket.js';
export { websocket } from './websocket.js';
export type { WebSocketMiddleware, WebSocketOptions } from './websocket.js';
