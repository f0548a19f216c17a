/**
 * The seam between a Connection and what carries its messages. A Connection needs a transport
 * that sends text, binary and pings, closes or drops, counts what it buffers, says when that
 * drained, and hands events in: 'message', 'close', 'error', 'ping', 'pong'. Two transports fit:
 * ws's WebSocket (internals/ws.ts, which holds every private ws access) and the fallback's SSE
 * session (fallback/session.ts). Nothing above this seam knows which one it talks to, except
 * through `kind`.
 */
import type { EventEmitter } from 'node:events';

/** Data a transport sends: text as a string, binary as bytes. */
export type TransportData = string | Buffer | ArrayBuffer | ArrayBufferView;

/** What a Connection needs from below. */
export interface Transport extends Pick<EventEmitter, 'on' | 'once' | 'listenerCount'> {
  /** 0 connecting, 1 open, 2 closing, 3 closed. */
  readonly readyState: 0 | 1 | 2 | 3;
  /** The negotiated subprotocol, or `''`. */
  readonly protocol: string;
  /** The negotiated extensions, or `''`. */
  readonly extensions: string;
  /** Bytes queued but not yet handed to the operating system. */
  readonly bufferedAmount: number;
  /** Sends one message. */
  send(data: TransportData, options: { binary: boolean }): void;
  /** Sends a ping; the pong comes back as a 'pong' event. */
  ping(data?: string | Buffer): void;
  /** Starts the closing handshake. */
  close(code?: number, reason?: string): void;
  /** Drops the connection without a closing handshake. */
  terminate(): void;
}

/** A subscriber a hub writes a frame, built once for all of them, to. */
export interface FrameSink {
  /**
   * @internal Writes a message framed once by the hub; false when the subscriber is not open
   * or fell behind. `payload` is what `send` would take, for transports that can't use frames.
   */
  sendFrame(frame: Buffer, payload: string | Buffer, isBinary: boolean): boolean;
}
