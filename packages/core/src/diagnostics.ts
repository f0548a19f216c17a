/**
 * The `node:diagnostics_channel` channels switchyard publishes on, and their payloads.
 *
 * Every publisher checks `hasSubscribers` before it builds a payload, so an app that nobody
 * observes pays one property read per event and allocates nothing. Payloads are plain objects
 * built per event; subscribers must not keep them beyond what they need.
 *
 * docs/observability.md lists every channel and field.
 */
import diagnosticsChannel from 'node:diagnostics_channel';
import type { IncomingMessage } from 'node:http';
import type { Connection } from './connection.js';
import type { Endpoint } from './endpoint.js';

/** The transports a connection can use. */
export type Transport = 'websocket' | 'sse';

/** `switchyard:handshake:start`: a WebSocket upgrade or an SSE session request reached an endpoint. */
export interface HandshakeStartMessage {
  /** The endpoint answering it: `endpoint.stats()`, `endpoint.options`. */
  endpoint: Endpoint<any>;
  /** Node's request. An HTTP instrumentation's context is active while this is published. */
  request: IncomingMessage;
  /** `'websocket'` for an upgrade, `'sse'` for the fallback's stream request. */
  transport: Transport;
  /** The endpoint's path as the client asked for it, without the query string. */
  path: string;
}

/** `switchyard:handshake:end`: the handshake was answered. */
export interface HandshakeEndMessage {
  request: IncomingMessage;
  transport: Transport;
  path: string;
  /** 101 (or 200 for an SSE session) when accepted; the HTTP status of a refusal; 0 when the client left first. */
  status: number;
  /** True when a connection opened. */
  accepted: boolean;
  /** Why it was refused (the response body's text), or `''`. */
  reason: string;
  /** The connection that opened, when accepted. */
  connection: Connection<any, any, any> | undefined;
}

/** `switchyard:connection:open`: a connection opened (before the `open` hook runs). */
export interface OpenMessage {
  endpoint: Endpoint<any>;
  connection: Connection<any, any, any>;
  /** The handshake request; its trace context is the parent of anything the connection does. */
  request: IncomingMessage;
  transport: Transport;
}

/** `switchyard:message:in` and `switchyard:message:out`. */
export interface MessageMessage {
  connection: Connection<any, any, any>;
  /** Payload bytes (text as UTF-8). */
  size: number;
  isBinary: boolean;
}

/** Who started the close: this server (`close()`, a limit, a protocol error), or the peer (or its network). */
export type ClosedBy = 'server' | 'client';

/** `switchyard:connection:close`: the connection closed (before the `close` hook runs). */
export interface CloseMessage {
  connection: Connection<any, any, any>;
  code: number;
  reason: string;
  wasClean: boolean;
  closedBy: ClosedBy;
}

/** `switchyard:connection:error`: a handler failed, or the peer broke the protocol. */
export interface ErrorMessage {
  /** Undefined for a failure before any connection existed. */
  connection: Connection<any, any, any> | undefined;
  error: Error;
}

/** `switchyard:backpressure`: a send passed the high-water mark (`drain` will follow), or drained. */
export interface BackpressureMessage {
  connection: Connection<any, any, any>;
  /** `'full'` when `send()` started returning false; `'drained'` when it may send again. */
  state: 'full' | 'drained';
  bufferedAmount: number;
  highWaterMark: number;
}

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

/** `switchyard:limit`: a limit refused a handshake, dropped a message or closed a connection. */
export interface LimitMessage {
  limit: LimitName;
  /** What happened: a refused handshake (`status` set), a dropped message, or a closed connection (`code` set). */
  action: 'refused' | 'dropped' | 'closed';
  /** The connection, except for refused handshakes. */
  connection: Connection<any, any, any> | undefined;
  /** The client address of a refused handshake. */
  remoteAddress: string | undefined;
  /** The HTTP status of a refusal, or the close code. */
  status: number | undefined;
  code: number | undefined;
}

/** `switchyard:fallback`: a client fell back to SSE + POST (a session opened). */
export interface FallbackMessage {
  connection: Connection<any, any, any>;
  request: IncomingMessage;
  transport: Transport;
}

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
  action: LimitMessage['action'],
  connection: Connection<any, any, any> | undefined,
  remoteAddress: string | undefined,
  status: number | undefined,
  code: number | undefined,
): void {
  if (!channels.limit.hasSubscribers) return;
  const message: LimitMessage = { limit, action, connection, remoteAddress, status, code };
  channels.limit.publish(message);
}

/** The byte length of a message payload. */
export function sizeOf(data: string | Buffer | ArrayBuffer | ArrayBufferView): number {
  return typeof data === 'string' ? Buffer.byteLength(data) : data.byteLength;
}
