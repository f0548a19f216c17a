/**
 * What a gateway and the adapter accept: switchyard's own options and hooks, plus the message
 * format of `@nestjs/platform-ws` (`{ event, data }`, with a parser of one's own). Types only.
 */
import type { ConnectionListener, EndpointOptions, Handlers } from '@switchyard/core';

/** A message as Nest routes it: `event` picks the `@SubscribeMessage` handler, `data` is its body. */
export interface GatewayMessage {
  event: string;
  data?: unknown;
}

/**
 * Turns a frame into `{ event, data }`, as `@nestjs/platform-ws`'s `messageParser` does. Return
 * nothing to drop the frame; throw to refuse it (the connection closes with 1007).
 */
export type MessageParser = (data: string | Buffer) => GatewayMessage | null | undefined;

/** `new SwitchyardAdapter(app, options)`: defaults for every gateway, and the message format. */
export interface SwitchyardAdapterOptions extends EndpointOptions {
  /** Default: `JSON.parse` of the frame, as in `@nestjs/platform-ws`. */
  messageParser?: MessageParser;
}

/**
 * `@WebSocketGateway<SwitchyardGatewayOptions>({ path, ...})`: every switchyard option and hook
 * (`upgrade`, `rejected`, `limited`, `invalid`, `error`...). A `message` hook, or a Faye-style
 * `listener`, takes the raw frames instead of the `@SubscribeMessage` dispatch.
 */
export type SwitchyardGatewayOptions = Handlers<any, any, any> & {
  /** The path of the gateway, on the app's own server. */
  path?: string;
  /** Called once per connection with `(ws, request)`, like `websocket(listener)` in the other adapters. */
  listener?: ConnectionListener;
  /** This gateway's parser, instead of the adapter's. */
  messageParser?: MessageParser;
};
