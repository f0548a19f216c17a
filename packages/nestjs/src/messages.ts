/**
 * The `@SubscribeMessage` dispatch: each connection's handlers as Nest binds them, a frame parsed
 * into `{ event, data }`, and what a handler returns (a value, a promise, an Observable) sent back
 * as JSON text, as `@nestjs/platform-ws` does.
 */
import { Logger } from '@nestjs/common';
import { CloseCode } from '@switchyard/core';
import type { CloseEvent, Connection } from '@switchyard/core';
import type { MessageMappingProperties } from '@nestjs/websockets';
import { isObservable } from 'rxjs';
import type { Observable, Subscription } from 'rxjs';
import { INTERNAL_ERROR_REASON } from './filters.js';
import { isThenable } from './guards.js';
import type { GatewayMessage, MessageParser } from './options.js';

/** `@nestjs/platform-ws`'s default: the frame as JSON. */
export const parseJson: MessageParser = (data) => JSON.parse(data.toString()) as GatewayMessage;

type Transform = (data: unknown) => Observable<unknown>;

/** One connection's part: its handlers by event, the Observables still sending, who hears its close. */
interface Bound {
  handlers: Map<string, MessageMappingProperties>;
  running: Set<Subscription> | undefined;
  disconnects: Array<(reason: CloseEvent) => void> | undefined;
}

export class MessageRouter {
  readonly #logger = new Logger('SwitchyardAdapter');
  readonly #bound = new WeakMap<Connection<any, any, any>, Bound>();

  #of(client: Connection<any, any, any>): Bound {
    let bound = this.#bound.get(client);
    if (bound === undefined) {
      bound = { handlers: new Map(), running: undefined, disconnects: undefined };
      this.#bound.set(client, bound);
    }
    return bound;
  }

  /**
   * Nest's `bindMessageHandlers`: the gateway's handlers for one connection. Two gateways on one
   * path share a connection; each adds its handlers. Nest's `transform` (its handler's result,
   * awaited, then a value, a promise or an Observable flattened) is what `dispatch` does itself,
   * without an RxJS pipeline per message for a plain value.
   */
  bind(client: Connection<any, any, any>, handlers: MessageMappingProperties[], _transform: Transform): void {
    const bound = this.#of(client);
    for (const handler of handlers) bound.handlers.set(String(handler.message), handler);
  }

  /** Nest's `bindClientDisconnect`: `callback` runs once the connection closed. */
  onClose(client: Connection<any, any, any>, callback: (reason: CloseEvent) => void): void {
    const bound = this.#of(client);
    if (bound.disconnects) bound.disconnects.push(callback);
    else bound.disconnects = [callback];
  }

  /**
   * A frame (or, with `schema`, a validated value). Connections whose gateways declare no
   * `@SubscribeMessage` handler are left to the app's own listeners.
   */
  dispatch(ws: Connection<any, any, any>, data: unknown, parser: MessageParser): void {
    const bound = this.#bound.get(ws);
    if (bound === undefined || bound.handlers.size === 0) return;
    let message: GatewayMessage | null | undefined;
    if (typeof data === 'string' || Buffer.isBuffer(data)) {
      try {
        message = parser(data);
      } catch (error) {
        // Client input the parser refuses is a bad frame, answered with 1007, never a log line
        // (a public socket must not be a log flood); a custom parser's own bug is logged.
        if (parser !== parseJson) this.#logger.error(error);
        ws.close(CloseCode.INVALID_PAYLOAD, 'Invalid message');
        return;
      }
    } else message = data as GatewayMessage;
    if (message === null || typeof message !== 'object') return;
    const handler = bound.handlers.get(String(message.event));
    // An event nobody subscribed to is dropped, as in @nestjs/platform-ws.
    if (handler === undefined) return;
    // Nest's handler (its guards, pipes, interceptors and filters around the method) is async:
    // what it resolves to is the method's result, or an Observable when it returned one.
    const returned: unknown = handler.callback(message.data, message.event);
    // Awaited as Nest's own `transform` awaits it: any thenable.
    if (isThenable(returned))
      returned.then(
        (result: unknown) => this.#reply(ws, bound, result),
        (error: unknown) => this.#failed(ws, error),
      );
    else this.#reply(ws, bound, returned);
  }

  /** A handler's result goes back as JSON text: a value, what a promise gives, or each value of an Observable. */
  #reply(ws: Connection<any, any, any>, bound: Bound, result: unknown): void {
    if (isObservable(result)) this.#subscribe(ws, bound, result);
    else if (result instanceof Promise)
      result.then(
        (value: unknown) => send(ws, value),
        (error: unknown) => this.#failed(ws, error),
      );
    else send(ws, result);
  }

  #subscribe(ws: Connection<any, any, any>, bound: Bound, results: Observable<unknown>): void {
    // A connection closed already gets nothing more.
    if (ws.readyState !== 1) return;
    let subscription: Subscription | undefined;
    let done = false;
    subscription = results.subscribe({
      next: (result) => send(ws, result),
      error: (error: unknown) => {
        done = true;
        if (subscription) bound.running?.delete(subscription);
        this.#failed(ws, error);
      },
      complete: () => {
        done = true;
        if (subscription) bound.running?.delete(subscription);
      },
    });
    // An Observable that finished while it was subscribed (of(), from([...])) holds nothing.
    if (done) return;
    if (bound.running === undefined) {
      const running = new Set<Subscription>();
      bound.running = running;
      // Whether or not the path has a close hook (adapter.ts), what still sends stops at the close.
      ws.once('close', () => {
        for (const open of running) open.unsubscribe();
        running.clear();
      });
    }
    bound.running.add(subscription);
  }

  /**
   * What Nest's exception filters let through (the result's own Observable or promise failing
   * after the handler returned): the connection cannot trust its state any more.
   */
  #failed(ws: Connection<any, any, any>, error: unknown): void {
    this.#logger.error(error);
    if (ws.readyState === 1) ws.close(CloseCode.INTERNAL_ERROR, INTERNAL_ERROR_REASON);
  }

  /** The connection closed: Nest hears of it (`handleDisconnect`). */
  closed(ws: Connection<any, any, any>, event: CloseEvent): void {
    const bound = this.#bound.get(ws);
    if (bound === undefined) return;
    this.#bound.delete(ws);
    if (bound.disconnects) for (const callback of bound.disconnects) callback(event);
  }
}

/** One reply, as JSON text; nothing for undefined or null, or once the connection is closing. */
function send(ws: Connection<any, any, any>, result: unknown): void {
  if (result === undefined || result === null || ws.readyState !== 1) return;
  ws.send(JSON.stringify(result));
}
