/**
 * The `node:diagnostics_channel` channels switchyard publishes on. Their payloads' types are in
 * endpoint/diagnostics-messages.ts, above the connection and the endpoint they name.
 *
 * Every publisher checks `hasSubscribers` before it builds a payload, so an app that nobody
 * observes pays one property read per event and allocates nothing. Payloads are plain objects
 * built per event; subscribers must not keep them beyond what they need.
 *
 * docs/observability.md lists every channel and field.
 */
import { Buffer } from 'node:buffer';
import diagnosticsChannel from 'node:diagnostics_channel';

/** The transports a connection can use. */
export type Transport = 'websocket' | 'sse';

/** Who started the close: this server (`close()`, a limit, a protocol error), or the peer (or its network). */
export type ClosedBy = 'server' | 'client';

/** The limits whose refusals and closes `switchyard:limit` reports. */
export type LimitName =
  | 'maxConnections'
  | 'maxConnectionsPerAddress'
  | 'handshakeRate'
  | 'maxPendingHandshakes'
  | 'rateLimit'
  | 'controlRate'
  | 'maxDepth'
  | 'idleTimeout'
  | 'maxLifetime'
  | 'maxBufferedAmount'
  | 'heartbeat'
  | 'schema';

/** The names of the channels. */
export const CHANNELS = {
  handshakeStart: 'switchyard:handshake:start',
  handshakeEnd: 'switchyard:handshake:end',
  open: 'switchyard:connection:open',
  close: 'switchyard:connection:close',
  error: 'switchyard:connection:error',
  messageIn: 'switchyard:message:in',
  messageOut: 'switchyard:message:out',
  backpressure: 'switchyard:backpressure',
  limit: 'switchyard:limit',
  fallback: 'switchyard:fallback',
} as const;

/** The channel objects, created once per process (diagnostics_channel caches them by name anyway). */
export const channels = {
  handshakeStart: diagnosticsChannel.channel(CHANNELS.handshakeStart),
  handshakeEnd: diagnosticsChannel.channel(CHANNELS.handshakeEnd),
  open: diagnosticsChannel.channel(CHANNELS.open),
  close: diagnosticsChannel.channel(CHANNELS.close),
  error: diagnosticsChannel.channel(CHANNELS.error),
  messageIn: diagnosticsChannel.channel(CHANNELS.messageIn),
  messageOut: diagnosticsChannel.channel(CHANNELS.messageOut),
  backpressure: diagnosticsChannel.channel(CHANNELS.backpressure),
  limit: diagnosticsChannel.channel(CHANNELS.limit),
  fallback: diagnosticsChannel.channel(CHANNELS.fallback),
};

/** Publishes a limit event, when anyone listens. */
export function publishLimit(
  limit: LimitName,
  action: 'refused' | 'dropped' | 'closed',
  connection: object | undefined,
  remoteAddress: string | undefined,
  status: number | undefined,
  code: number | undefined,
): void {
  if (!channels.limit.hasSubscribers) return;
  // A LimitMessage (endpoint/diagnostics-messages.ts).
  channels.limit.publish({ limit, action, connection, remoteAddress, status, code });
}

/** The byte length of a message payload. */
export function sizeOf(data: string | Buffer | ArrayBuffer | ArrayBufferView): number {
  return typeof data === 'string' ? Buffer.byteLength(data) : data.byteLength;
}
