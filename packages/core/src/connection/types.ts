/**
 * The types around a connection: what `send` accepts, the events it emits, and the part of an
 * endpoint it calls back into. Kept apart so the connection's modules share one contract.
 */
import type { Connection } from './connection.js';
import type { Hub } from '../hub/hub.js';

/** Data accepted by `send`: text as a string, binary as a Buffer, ArrayBuffer or typed array. */
export type SendData = string | Buffer | ArrayBuffer | ArrayBufferView;

/** What a `close` handler receives. */
export interface CloseEvent {
  /** The close code: the peer's, or 1005 (none given) or 1006 (dropped, or terminated). */
  code: number;
  /** The close reason, decoded as UTF-8. */
  reason: string;
  /** True when a close frame was received. */
  wasClean: boolean;
}

/** The events a connection emits, faye-websocket style. */
export interface ConnectionEvents {
  message: [data: string | Buffer, isBinary: boolean];
  close: [event: CloseEvent];
  ping: [data: Buffer];
  pong: [data: Buffer];
  drain: [];
  error: [error: Error];
}

/** The part of an endpoint a connection calls back into. Implemented by `endpoint.ts`. */
export interface ConnectionHost {
  /** Runs a user handler; a throw or rejection becomes `fail(connection, error)`. */
  dispatchMessage(connection: Connection<any, any, any>, data: string | Buffer, isBinary: boolean): void;
  dispatchControl(connection: Connection<any, any, any>, kind: 'ping' | 'pong' | 'drain', data?: Buffer): void;
  dispatchClose(connection: Connection<any, any, any>, event: CloseEvent): void;
  dispatchError(connection: Connection<any, any, any>, error: Error): void;
  /**
   * A listener added with `on()` returned a promise that rejected: treated like a failing
   * handler (1011, reported), or only reported for `close` and `error` listeners.
   */
  listenerRejected(connection: Connection<any, any, any>, event: keyof ConnectionEvents, error: unknown): void;
  readonly highWaterMark: number;
  readonly maxBufferedAmount: number;
  /** Largest message accepted after inflating. */
  readonly maxPayload: number;
  /** The hub behind `subscribe` and `publish`. */
  readonly hub: Hub;
  /**
   * True when a `ping` hook exists or `controlRate` counts pings. A RoutedWebSocket hands over
   * every ping anyway; a plain one is listened to for pings only then, or once `on('ping')` asks.
   */
  readonly wantsPings: boolean;
  /** The `controlRate` budget of each connection's pings and unsolicited pongs, when on. */
  readonly controlRate: import('../limits.js').Rate | undefined;
  /** With `idleTimeout`: the time (ms) a message marks as the connection's last activity. */
  readonly activityClock: number | undefined;
  /** The counters of `endpoint.stats()`, unless `stats: false`. */
  readonly counters: import('../endpoint/stats.js').EndpointStats | undefined;
  /** A `for await` loop started: messages that waited for an async `open` go to it now. */
  startedIterating(connection: Connection<any, any, any>): void;
}
