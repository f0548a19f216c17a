/**
 * The payloads of the diagnostics channels (../diagnostics.ts publishes them): public types,
 * kept above the connection and the endpoint they name so that nothing below imports them.
 * docs/observability.md lists every channel and field.
 */
import type { IncomingMessage } from 'node:http';
import type { Connection } from '../connection/connection.js';
import type { ClosedBy, LimitName, Transport } from '../diagnostics.js';
import type { Endpoint } from './endpoint.js';

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
