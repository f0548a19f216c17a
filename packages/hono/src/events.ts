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

/** The WSContext of `connection`: sends, closes and reads state through switchyard. */
export function wsContextOf(connection: Connection<HonoSide>): HonoWSContext<Connection<HonoSide>> {
  const side = connection.context;
  side.ws ??= new WSContext<Connection<HonoSide>>({
    // Compression is an endpoint setting (`compression`); Hono's per-send flag has no say.
    send: (data) => {
      connection.send(data);
    },
    close: (code, reason) => connection.close(code, reason),
    raw: connection,
    get readyState() {
      return connection.readyState;
    },
    url: side.url,
    protocol: connection.protocol === '' ? null : connection.protocol,
  });
  return side.ws;
}

/** Hono's `onOpen` event. */
export function openEvent(): Event {
  return new Event('open');
}

/** Hono's `onMessage` event: text as a string, binary as an ArrayBuffer (Hono's `binaryType`). */
export function messageEvent(data: string | Buffer, isBinary: boolean): MessageEvent {
  if (!isBinary || typeof data === 'string') return new MessageEvent('message', { data: data.toString() });
  const copy = data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength);
  return new MessageEvent('message', { data: copy });
}

/** Hono's `onClose` event. */
export function closeEvent(event: { code: number; reason: string; wasClean: boolean }): HonoCloseEvent {
  return new CloseEventClass('close', { code: event.code, reason: event.reason, wasClean: event.wasClean });
}

/** Hono's `onError` event: an ErrorEvent whose `error` is what went wrong. */
export function errorEvent(error: Error): Event {
  return new ErrorEventClass('error', { error, message: error.message });
}
