/**
 * Hono's side of a connection: the `WSContext` a Hono handler talks to, and the events
 * (`Event`, `MessageEvent`, `CloseEvent`, `ErrorEvent`) it receives, built over a switchyard
 * `Connection`. The shapes are the ones @hono/node-ws gives, so that handlers move over as they are.
 */
import type { Connection } from '@switchyard/core';
import { WSContext } from 'hono/ws';
import type { HonoSide, WSCloseEvent, WSContext as HonoWSContext } from './types.js';

type HonoCloseEvent = WSCloseEvent;

/** Node before 23 has no global CloseEvent, and none has ErrorEvent: minimal ones in their place. */
const CloseEventClass: new (type: string, init: { code: number; reason: string; wasClean: boolean }) => HonoCloseEvent =
  (globalThis as { CloseEvent?: new (type: string, init: object) => HonoCloseEvent }).CloseEvent ??
  class CloseEvent extends Event {
    readonly code: number;
    readonly reason: string;
    readonly wasClean: boolean;
    constructor(type: string, init: { code: number; reason: string; wasClean: boolean }) {
      super(type);
      this.code = init.code;
      this.reason = init.reason;
      this.wasClean = init.wasClean;
    }
  };

const ErrorEventClass: new (type: string, init: { error: unknown; message: string }) => Event =
  (globalThis as { ErrorEvent?: new (type: string, init: object) => Event }).ErrorEvent ??
  class ErrorEvent extends Event {
    readonly error: unknown;
    readonly message: string;
    constructor(type: string, init: { error: unknown; message: string }) {
      super(type);
      this.error = init.error;
      this.message = init.message;
    }
  };

/**
 * Hono's `WSContext` over a switchyard Connection, made on a connection's first event. It is an
 * instance of `hono/ws`'s WSContext (its prototype is), with the same fields; `url` is parsed on
 * first read rather than per connection, as most handlers never read it.
 */
class SwitchyardWSContext {
  readonly raw: Connection<HonoSide>;
  binaryType: 'blob' | 'arraybuffer' = 'arraybuffer';
  protocol: string | null;
  #url: URL | null | undefined;

  constructor(connection: Connection<HonoSide>) {
    this.raw = connection;
    const protocol = connection.protocol;
    this.protocol = protocol === '' ? null : protocol;
  }

  get url(): URL | null {
    if (this.#url === undefined) this.#url = URL.canParse(this.raw.context.url) ? new URL(this.raw.context.url) : null;
    return this.#url;
  }

  set url(url: URL | null) {
    this.#url = url;
  }

  get readyState(): 0 | 1 | 2 | 3 {
    return this.raw.readyState;
  }

  // Compression is an endpoint setting (`compression`); Hono's per-send flag has no say.
  send(source: string | ArrayBuffer | Uint8Array, _options?: { compress?: boolean }): void {
    this.raw.send(source);
  }

  close(code?: number, reason?: string): void {
    this.raw.close(code, reason);
  }
}
Object.setPrototypeOf(SwitchyardWSContext.prototype, WSContext.prototype);

/** The WSContext of `connection`: sends, closes and reads state through switchyard. */
export function wsContextOf(connection: Connection<HonoSide>): HonoWSContext<Connection<HonoSide>> {
  const side = connection.context;
  return (side.ws ??= new SwitchyardWSContext(connection));
}

/** Hono's `onOpen` event. */
export function openEvent(): Event {
  return new Event('open');
}

/** Hono's `onMessage` event: text as a string, binary as an ArrayBuffer (Hono's `binaryType`). */
export function messageEvent(data: string | Buffer, isBinary: boolean): MessageEvent {
  if (!isBinary || typeof data === 'string') return new MessageEvent('message', { data: data.toString() });
  // A copy of its own, as @hono/node-ws gives: through a Uint8Array, which costs about half of
  // ArrayBuffer.prototype.slice on Node 20 (a 64 B message: 260 against 490 ns).
  return new MessageEvent('message', { data: new Uint8Array(data).buffer });
}

/** Hono's `onClose` event. */
export function closeEvent(event: { code: number; reason: string; wasClean: boolean }): HonoCloseEvent {
  return new CloseEventClass('close', { code: event.code, reason: event.reason, wasClean: event.wasClean });
}

/** Hono's `onError` event: an ErrorEvent whose `error` is what went wrong. */
export function errorEvent(error: Error): Event {
  return new ErrorEventClass('error', { error, message: error.message });
}
