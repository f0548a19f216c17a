/**
 * The `@SubscribeMessage` dispatch: each connection's handlers as Nest binds them, a frame parsed
 * into `{ event, data }`, and what a handler returns (a value, a promise, an Observable) sent back
 * as JSON text, as `@nestjs/platform-ws` does.
 */
import { Logger } from '@nestjs/common';
import { CloseCode } from '@switchyard/core';
import type { Connection } from '@switchyard/core';
import type { MessageMappingProperties } from '@nestjs/websockets';
import type { Observable, Subscription } from 'rxjs';
import { INTERNAL_ERROR_REASON } from './filters.js';
import type { GatewayMessage, MessageParser } from './options.js';

/** `@nestjs/platform-ws`'s default: the frame as JSON. */
export const parseJson: MessageParser = (data) => JSON.parse(data.toString()) as GatewayMessage;

type Transform = (data: unknown) => Observable<unknown>;

interface Bound {
  handlers: Map<string, MessageMappingProperties>;
  transform: Transform;
  running: Set<Subscription>;
}

export class MessageRouter {
  readonly #logger = new Logger('SwitchyardAdapter');
  readonly #bound = new WeakMap<Connection<any, any, any>, Bound>();

  /** Nest's `bindMessageHandlers`: the gateway's handlers for one connection. */
  bind(client: Connection<any, any, any>, handlers: MessageMappingProperties[], transform: Transform): void {
    const map = new Map<string, MessageMappingProperties>();
    for (const handler of handlers) map.set(String(handler.message), handler);
    const bound = this.#bound.get(client);
    // Two gateways on one path share a connection; each adds its handlers.
    if (bound) for (const [event, handler] of map) bound.handlers.set(event, handler);
    else this.#bound.set(client, { handlers: map, transform, running: new Set() });
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
    const results = bound.transform(handler.callback(message.data, message.event));
    const subscription = results.subscribe({
      next: (result) => {
        if (result === undefined || result === null || ws.readyState !== 1) return;
        ws.send(JSON.stringify(result));
      },
      error: (error: unknown) => {
        // What Nest's exception filters let through (the result's own Observable failing after
        // the handler returned): the connection cannot trust its state any more.
        this.#logger.error(error);
        if (ws.readyState === 1) ws.close(CloseCode.INTERNAL_ERROR, INTERNAL_ERROR_REASON);
      },
      complete: () => bound.running.delete(subscription),
    });
    if (!subscription.closed) bound.running.add(subscription);
  }

  /** The connection closed: Observables still sending to it stop. */
  closed(ws: Connection<any, any, any>): void {
    const bound = this.#bound.get(ws);
    if (bound === undefined) return;
    for (const subscription of bound.running) subscription.unsubscribe();
    bound.running.clear();
  }
}
