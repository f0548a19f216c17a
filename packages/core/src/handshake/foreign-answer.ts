/**
 * The warning for a WebSocket handshake that the app answered itself with a success or a
 * redirect: a route declared in front of `websocket()` (`app.get('/rooms/:room', json)` before
 * `app.all('/rooms/:room', websocket(...))`) serves its page to the handshake, the client fails
 * with "Unexpected server response: 200", and the request never reached switchyard, so nothing
 * else would say so. express-ws kept the two apart with its `/.websocket` suffix, so migrated
 * apps often have this order.
 *
 * Only 2xx and 3xx warn: 4xx and 5xx are how middleware refuses a handshake on purpose (a 401
 * from auth, a 404 for an unknown path), and switchyard's own refusals are 4xx or 5xx too.
 */
import type { Server, ServerResponse } from 'node:http';
import { serverOf } from '../internals/node.js';

const kWarned = Symbol('switchyard.foreignAnswerWarned');

/** Watches the response of an upgrade request for an answer that did not come from switchyard. */
export function watchForeignAnswer(res: ServerResponse): void {
  res.once('finish', warnIfForeignAnswer);
}

/** The check itself, as a 'finish' listener of the response (route-upgrades.ts calls it from its own). */
export function warnIfForeignAnswer(this: ServerResponse): void {
  // A 101 never goes through the response object: the socket is taken and the response detached.
  if (this.statusCode < 200 || this.statusCode >= 400) return;
  // Once per server: the request reached no endpoint, and per-path sets would grow with every room name.
  const server = serverOf(this.req) as (Server & { [kWarned]?: true }) | undefined;
  if (server === undefined || server[kWarned]) return;
  server[kWarned] = true;
  const url = (this.req as { originalUrl?: string }).originalUrl ?? this.req.url ?? '/';
  const query = url.indexOf('?');
  const path = query === -1 ? url : url.slice(0, query);
  process.emitWarning(
    `A WebSocket handshake for ${path} was answered with ${this.statusCode} by the app, not by switchyard: ` +
      'a route or middleware in front of websocket() served it, and the client sees an unexpected ' +
      `${this.statusCode} instead of a 101. Declare the websocket route before other routes on the same path ` +
      '(docs/troubleshooting.md).',
    { code: 'SWITCHYARD_HANDSHAKE_ANSWERED' },
  );
}
