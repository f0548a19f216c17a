import type { Server } from 'node:http';
import { CloseCode } from '../protocol.js';

/** What a server-wide shutdown needs from each endpoint. */
export interface Closable {
  close(options?: ShutdownOptions): Promise<void>;
}

/** Shutdown settings. */
export interface ShutdownOptions {
  /** The close code sent to every client. Default 1001 (going away). */
  code?: number;
  /** The close reason. Default `'Server shutting down'`. */
  reason?: string;
  /** Terminate connections whose close handshake has not finished after this many ms. Default 5000. */
  timeout?: number;
}

const kEndpoints = Symbol('switchyard.endpoints');
const kShuttingDown = Symbol('switchyard.shuttingDown');

type Marked = Server & { [kEndpoints]?: Set<Closable>; [kShuttingDown]?: true };

/** Remembers that `endpoint` serves connections accepted by `server`. */
export function registerEndpoint(server: Server | undefined, endpoint: Closable): void {
  if (!server) return;
  ((server as Marked)[kEndpoints] ??= new Set()).add(endpoint);
}

/** True once {@link shutdown} ran for this server: new upgrades get 503. */
export function isShuttingDown(server: Server | undefined): boolean {
  return server !== undefined && (server as Marked)[kShuttingDown] === true;
}

/**
 * Sends every WebSocket on `server` a close (1001 by default), waits for the close handlers,
 * and answers upgrades that arrive meanwhile with 503. Call `server.close()` afterwards (or
 * before: both orders work) and the process can exit.
 */
export async function shutdown(server: Server, options: ShutdownOptions = {}): Promise<void> {
  const marked = server as Marked;
  marked[kShuttingDown] = true;
  const endpoints = [...(marked[kEndpoints] ?? [])];
  await Promise.all(endpoints.map((endpoint) => endpoint.close({ code: CloseCode.GOING_AWAY, ...options })));
}
