/**
 * The `close` event. Node 20 and 22 have no global CloseEvent, and the client adds
 * `willReconnect`, so it brings its own class. Its types avoid DOM-only names, so that the
 * package compiles with Node's types as well as with the DOM library.
 */
export interface CloseEventInit {
  code?: number;
  reason?: string;
  wasClean?: boolean;
  willReconnect?: boolean;
}

export class CloseEvent extends Event {
  /** The close code, from the server, the app, or 1006 when the connection failed. */
  readonly code: number;
  /** The close reason. */
  readonly reason: string;
  /** Whether the closing handshake completed. */
  readonly wasClean: boolean;
  /** Whether the client is about to reconnect (`readyState` is then CONNECTING again). */
  readonly willReconnect: boolean;

  constructor(type: string, init: CloseEventInit = {}) {
    super(type);
    this.code = init.code ?? 0;
    this.reason = init.reason ?? '';
    this.wasClean = init.wasClean ?? false;
    this.willReconnect = init.willReconnect ?? false;
  }
}

/** The `message` event: a MessageEvent whose `data` is a string (text) or an ArrayBuffer (binary). */
export interface SocketMessageEvent extends Event {
  readonly data: string | ArrayBuffer;
}
