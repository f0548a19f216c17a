import type { Server } from 'node:http';
import * as stream from 'node:stream';
import type { Duplex } from 'node:stream';
import { Server as TlsServer } from 'node:tls';
import WebSocket from 'ws';
import { ErrorCode, withCode } from '../errors.js';

/** Options of {@link injectWebSocket}. */
export interface InjectOptions {
  /** Extra request headers, e.g. `authorization` or `origin`. */
  headers?: Record<string, string>;
  /** Subprotocols to offer, in preference order. */
  protocols?: string | string[];
}

/**
 * Opens a `ws` client to `path` on `server` in process, with no port and no listen: Node's HTTP
 * server parses the handshake from an in-memory duplex and takes the same path as for a TCP
 * connection (middleware, hooks, the 101). Rejects when the server answers with HTTP instead.
 */
export function injectWebSocket(server: Server, path = '/', options: InjectOptions = {}): Promise<WebSocket> {
  if (typeof path !== 'string' || !path.startsWith('/')) {
    return Promise.reject(
      withCode(new TypeError('injectWebSocket(): path must start with "/"'), ErrorCode.INVALID_PATH),
    );
  }
  // duplexPair arrived in Node 20.17; read it lazily so that older 20.x fail here, not on import.
  const duplexPair = (stream as unknown as { duplexPair?: () => [Duplex, Duplex] }).duplexPair;
  if (!duplexPair)
    return Promise.reject(
      withCode(
        new Error('injectWebSocket() needs Node 20.17 or later (stream.duplexPair)'),
        ErrorCode.UNSUPPORTED_RUNTIME,
      ),
    );
  const [client, peer] = duplexPair();
  // The peer looks local, as it does to fastify.inject().
  Object.defineProperty(peer, 'remoteAddress', { value: '127.0.0.1' });
  // Any duplex may be emitted as a connection; an HTTPS server reads HTTP after TLS, so it gets
  // the plain stream as an already secure connection.
  server.emit(server instanceof TlsServer ? 'secureConnection' : 'connection', peer);
  // A TCP connection that one end destroys closes at the other; a duplex pair's halves don't.
  // Without this, a terminate()d client stays open on the server until its heartbeat or a
  // shutdown timeout ends it.
  client.once('close', () => peer.destroy());
  peer.once('close', () => client.destroy());
  const ws = new WebSocket(`ws://localhost${path}`, options.protocols, {
    headers: options.headers,
    createConnection: () => client as never,
  });
  return new Promise<WebSocket>((resolve, reject) => {
    const fail = (error: Error): void => reject(error);
    ws.once('error', fail);
    ws.once('unexpected-response', (_request, response) => {
      ws.off('error', fail);
      reject(
        Object.assign(
          withCode(
            new Error(`Unexpected server response: ${String(response.statusCode)}`),
            ErrorCode.UNEXPECTED_RESPONSE,
          ),
          { statusCode: response.statusCode },
        ),
      );
      response.resume();
      client.destroy();
    });
    ws.once('open', () => {
      ws.off('error', fail);
      resolve(ws);
    });
  });
}
