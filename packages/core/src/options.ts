/**
 * The options of `websocket({...})`, from one place: their types (options-types.ts), their
 * defaults (options-defaults.ts) and their resolution (options-resolve.ts). Other modules and
 * the public API import from here.
 */
export type {
  CompressionOptions,
  ConnectionListener,
  EndpointOptions,
  Handlers,
  HandshakeRateOptions,
  HeartbeatOptions,
  Hooks,
  MessageOf,
  OutgoingOf,
  RateLimitOptions,
  RejectionInfo,
  ResolvedOptions,
  SchemaOptions,
  UpgradeResult,
} from './options-types.js';
export { DEFAULT_KEPT_HEADERS, DEFAULT_MAX_BUFFERED_AMOUNT } from './options-defaults.js';
export { resolveOptions } from './options-resolve.js';
