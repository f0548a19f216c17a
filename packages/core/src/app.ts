/**
 * @switchyard/core/app: the API an app calls, defined once. Every adapter re-exports this entry
 * whole (`export * from '@switchyard/core/app'`), so that an app installs and imports its adapter
 * alone, and core's additions reach every adapter together. `@switchyard/core` is this plus what
 * writing an adapter takes: createEndpoint and RequestExtras.
 */
export type { Endpoint } from './endpoint.js';
export { HandshakeRejection, ErrorCode, reject, isHandshakeRejection } from './errors.js';
export type { ErrorCodeName, RejectionHeaders } from './errors.js';
export { isWebSocketRequest } from './handshake.js';
export { parseProtocols, selectProtocol } from './subprotocol.js';
export type { ProtocolOption } from './subprotocol.js';
export { routeUpgrades } from './route-upgrades.js';
export { Connection } from './connection.js';
export type { CloseEvent, ConnectionEvents, SendData } from './connection-types.js';
export { RequestInfo, UpgradeRequest } from './request.js';
export type { Peer, Query } from './request.js';
export { Hub, createHub } from './hub.js';
export type { HubEvents, HubOutage, HubStats } from './hub.js';
export type { FallbackOptions } from './fallback/settings.js';
export { injectWebSocket } from './inject.js';
export type { InjectOptions } from './inject.js';
export { shutdown } from './shutdown.js';
export type { ShutdownOptions } from './shutdown.js';
export { CloseCode, isSendableCloseCode } from './protocol.js';
export type { CloseCodeName } from './protocol.js';
export { DEFAULT_KEPT_HEADERS } from './options-defaults.js';
export type {
  CompressionOptions,
  ConnectionListener,
  ControlRateOptions,
  EndpointOptions,
  Handlers,
  HandshakeRateOptions,
  HeartbeatOptions,
  Hooks,
  MessageOf,
  OutgoingOf,
  RateLimitOptions,
  RejectionInfo,
  SchemaOptions,
  UpgradeResult,
} from './options-types.js';
export { CHANNELS } from './diagnostics.js';
export type {
  BackpressureMessage,
  ClosedBy,
  CloseMessage,
  ErrorMessage,
  FallbackMessage,
  HandshakeEndMessage,
  HandshakeStartMessage,
  LimitMessage,
  LimitName,
  MessageMessage,
  OpenMessage,
  Transport,
} from './diagnostics.js';
export type { EndpointStatsSnapshot, RttSummary } from './stats.js';
export type { StandardSchemaV1 } from './schema.js';
export type { IncomingMessage as QueuedMessage } from './iteration.js';
export type {
  DurableEntry,
  DurableStore,
  RecoveryOptions,
  StreamPosition,
  UnrecoverableReason,
} from './recovery/index.js';
