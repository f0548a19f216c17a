/**
 * `@switchyard/core/internal`: what switchyard's own packages build on. No semver promise: it
 * changes with core, and adapters, `@switchyard/redis` and `@switchyard/otel` pin core's exact
 * version. Apps import `@switchyard/core` (or an adapter) instead.
 *
 * Values: Endpoint (the class behind createEndpoint), takeSocket, shapeUpgradeRequests (an
 * adapter's framework properties, added before a routed upgrade reaches it) and expressUpgradeShape, Inbox, SseSocket,
 * LIVENESS_FRAME, checkHandshake, rejectHandshake, internalRoute, withCode (the `code` on an error),
 * resolveOptions (core's option checks, for a plugin that checks its defaults early), and what a durable hub needs
 * (compareIds, durableStoreOf, senderIdOf).
 */
export { Endpoint } from './endpoint/endpoint.js';
export { takeSocket } from './handshake/hijack.js';
export { expressUpgradeShape, shapeUpgradeRequests } from './handshake/route-upgrades.js';
export type { UpgradeShape } from './handshake/route-upgrades.js';
export type { TakenSocket } from './handshake/takeover.js';
export { Inbox } from './hub/hub.js';
export { SseSocket } from './fallback/session.js';
export { LIVENESS_FRAME } from './protocol.js';
export { checkHandshake, rejectHandshake } from './handshake/handshake.js';
export { internalRoute } from './internals/node.js';
export { withCode } from './errors.js';
export { resolveOptions } from './endpoint/options-resolve.js';
export type { InternalRoute } from './internals/node.js';
export { compareIds, durableStoreOf, senderIdOf } from './recovery/index.js';
