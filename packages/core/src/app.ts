/**
 * @switchyard/core/app: the API an app calls, defined once. Every adapter re-exports this entry
 * whole (`export * from '@switchyard/core/app'`), so that an app installs and imports its adapter
 * alone, and core's additions reach every adapter together. `@switchyard/core` is this plus what
 * writing an adapter takes: createEndpoint and RequestExtras.
 */
export type { Endpoint } from './endpoint/endpoint.js';
export { HandshakeRejection, ErrorCode, reject, isHandshakeRejection } from './errors.js';
export type { ErrorCodeName, RejectionHeaders } from './errors.js';
export { isWebSocketRequest } from './handshake/handshake.js';
export { parseProtocols, selectProtocol } from './handshake/subprotocol.js';
export type { ProtocolOption } from './handshake/subprotocol.js';
export { routeUpgrades } from './handshake/route-upgrades.js';
export { Connection } from './connection/connection.js';
export type { CloseEvent, ConnectionEvents, SendData } from './connection/connection.js';
export { RequestInfo, UpgradeRequest } from './handshake/request.js';
export type { Peer, Query } from './handshake/request.js';
export { Hub, createHub } from './hub/hub.js';
export type { HubEvents, HubOutage, HubStats } from './hub/hub.js';
export type { FallbackOptions } from './fallback/settings.js';
export { injectWebSocket } from './handshake/inject.js';
export type { InjectOptions } from './handshake/inject.js';
export { shutdown } from './endpoint/shutdown.js';
export type { ShutdownOptions } from './endpoint/shutdown.js';
export { CloseCode, isSendableCloseCode } from './protocol.js';
export type { CloseCodeName } from './protocol.js';
export { DEFAULT_KEPT_HEADERS } from './endpoint/options-defaults.js';
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
} from './endpoint/options-types.js';
export { CHANNELS } from './diagnostics.js';
export type { ClosedBy, LimitName, Transport } from './diagnostics.js';
export type {
  BackpressureMessage,
  CloseMessage,
  ErrorMessage,
  FallbackMessage,
  HandshakeEndMessage,
  HandshakeStartMessage,
  LimitMessage,
  MessageMessage,
  OpenMessage,
} from './endpoint/diagnostics-messages.js';
export type { EndpointStatsSnapshot, RttSummary } from './endpoint/stats.js';
export type { StandardSchemaV1 } from './schema.js';
export type { IncomingMessage as QueuedMessage } from './connection/iteration.js';
export type {
  DurableEntry,
  DurableStore,
  RecoveryOptions,
  StreamPosition,
  UnrecoverableReason,
} from './recovery/index.js';
