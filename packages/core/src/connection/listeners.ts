/**
 * The faye-style listeners of a connection (`ws.on('message', ...)`): an EventEmitter created on
 * the first `on()`, whose rejected async listeners fail the connection instead of the process.
 */
import { EventEmitter } from 'node:events';
import type { Connection } from './connection.js';
import type { ConnectionEvents } from './types.js';
import { kEmitter, kHost, kWs } from './symbols.js';
import { onWsPing } from './events.js';
import { isRouted } from '../internals/ws.js';

/** The connection's emitter, created on first use. */
export function emitterOf(connection: Connection<any, any, any>): EventEmitter {
  return (connection[kEmitter] ??= new ListenerEmitter(connection));
}

/**
 * The listeners of faye-style code. `ws.on('message', async () => { ... })` returns a promise
 * that EventEmitter would drop, so a rejection would be unhandled and, on Node's defaults, end
 * the process. EventEmitter's captureRejections hands each rejection to the method below
 * instead, which treats it like a failing handler.
 */
class ListenerEmitter extends EventEmitter {
  readonly #connection: Connection<any, any, any>;

  constructor(connection: Connection<any, any, any>) {
    super({ captureRejections: true });
    this.#connection = connection;
  }

  [Symbol.for('nodejs.rejection')](error: unknown, event: string | symbol): void {
    const connection = this.#connection;
    connection[kHost].listenerRejected(connection, event as keyof ConnectionEvents, error);
  }
}

/**
 * Prepares for a listener: a `close` listener will want the peer's address after the socket is
 * gone, and the fallback's stand-in socket is listened to for pings only on demand.
 */
export function listenFor(connection: Connection<any, any, any>, event: keyof ConnectionEvents): void {
  if (event === 'close') {
    void connection.request.remoteAddress;
    return;
  }
  const ws = connection[kWs];
  if (event === 'ping' && !isRouted(ws) && !connection[kHost].wantsPings && ws.listenerCount('ping') === 0) {
    ws.on('ping', onWsPing);
  }
}
