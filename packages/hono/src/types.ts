/**
 * Hono's WebSocket handler types, declared here with the same shape as `hono/ws`'s `WSEvents`
 * and `WSContext`: `hono/ws`'s declaration file names the DOM's `CloseEvent`, which Node's types
 * lack, so a program importing it fails to compile with `skipLibCheck: false` unless it adds the
 * DOM library. These compile on Node's types alone, and hono/ws's handlers fit them.
 */
import type { Connection } from '@switchyard/core';

/** What Hono's `onClose` receives. */
export interface WSCloseEvent extends Event {
  /** The close code: the peer's, or 1005 (none given) or 1006 (dropped). */
  readonly code: number;
  /** The close reason. */
  readonly reason: string;
  /** True when a close frame was received. */
  readonly wasClean: boolean;
}

/** What Hono's `onMessage` receives: text as a string, binary as an ArrayBuffer. */
export type WSMessageEvent = Omit<MessageEvent, 'data'> & { readonly data: string | Blob | ArrayBufferLike };

/** Hono's `WSContext`, over a switchyard Connection (`raw`). */
export interface WSContext<T = unknown> {
  send(source: string | ArrayBuffer | Uint8Array, options?: { compress?: boolean }): void;
  close(code?: number, reason?: string): void;
  raw?: T;
  binaryType: 'blob' | 'arraybuffer';
  readonly readyState: 0 | 1 | 2 | 3;
  url: URL | null;
  protocol: string | null;
}

/** The handlers `createEvents` returns: Hono's `WSEvents`. */
export interface WSEvents<T = unknown> {
  onOpen?(evt: Event, ws: WSContext<T>): void;
  onMessage?(evt: WSMessageEvent, ws: WSContext<T>): void;
  onClose?(evt: WSCloseEvent, ws: WSContext<T>): void;
  onError?(evt: Event, ws: WSContext<T>): void;
}

/** The per-connection state of a Hono-style endpoint: its handlers and its WSContext. */
export interface HonoSide {
  readonly events: WSEvents<Connection<HonoSide>>;
  /** The request URL as Hono saw it (`c.req.url`). */
  readonly url: string;
  ws?: WSContext<Connection<HonoSide>>;
}
