/** The contract between the socket and its two transports. */

/** A message on its way out. A Blob is read only when a transport needs its bytes. */
export type Outgoing = string | Uint8Array | Blob;

/** Which transport carries a connection. */
export type TransportName = 'websocket' | 'sse';

/** How a transport ended. */
export interface Ending {
  code: number;
  reason: string;
  wasClean: boolean;
  /** False: the attempt failed before `open`. */
  opened: boolean;
  /** Retrying can't help (the server answered with a 4xx other than 408 or 429). */
  fatal: boolean;
  /** Messages the transport accepted but could not confirm as delivered, oldest first. */
  unsent: Outgoing[];
  /**
   * The server refused the attempt with 503 or 429 and asked, with `Retry-After`, to wait this
   * long (ms, capped): it answered, so the path works and the next attempt waits at least this.
   * Undefined when there was no such answer, or the transport could not see it (a browser's
   * WebSocket shows no status).
   */
  retryAfter?: number | undefined;
  /**
   * The attempt's TCP connection was refused outright (ECONNREFUSED: nothing listens on the port,
   * as while a node restarts). Only where the client sees it (`ws` in Node); a browser's
   * WebSocket reports no reason, and this stays undefined.
   */
  refused?: boolean | undefined;
}

/** What a transport reports to its socket. After `end`, it reports nothing more. */
export interface TransportListener {
  open(protocol: string): void;
  message(data: string | ArrayBuffer): void;
  end(ending: Ending): void;
}

/** One attempt at a connection, over one transport. */
export interface Transport {
  /** Sends (or queues, in order) one message; only called after `open`. */
  send(message: Outgoing): void;
  /** Starts the closing handshake; `end` follows. */
  close(code: number, reason: string): void;
  /** Drops everything at once and reports nothing. */
  abort(): void;
}
