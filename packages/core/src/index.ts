/**
 * @switchyard/core: what an app or an adapter's user calls. Everything here is public API and
 * follows semver; adapters re-export all of it but createEndpoint (and RequestExtras), which are
 * for writing an adapter: that part is `@switchyard/core/app` (app.ts), the one list.
 *
 * Values: createEndpoint, reject, isHandshakeRejection, HandshakeRejection, ErrorCode,
 * isWebSocketRequest, parseProtocols, selectProtocol, routeUpgrades, Connection, RequestInfo,
 * UpgradeRequest, Hub, createHub, injectWebSocket, shutdown, CloseCode, isSendableCloseCode,
 * DEFAULT_KEPT_HEADERS, CHANNELS.
 *
 * The pieces adapters, `@switchyard/redis` and `@switchyard/otel` build on (the socket takeover,
 * the Endpoint class, hub inboxes, the SSE session) are in `@switchyard/core/internal`, with no
 * semver promise (docs/errors.md, "Entry points"). The wire names the client shares are in
 * `@switchyard/core/protocol`.
 */
export * from './app.js';
export { createEndpoint } from './endpoint/endpoint.js';
export type { RequestExtras } from './handshake/request.js';
