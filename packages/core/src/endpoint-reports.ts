/**
 * The endpoint's reports on its handshakes, kept out of the request path: the
 * `switchyard:handshake:start` and `:end` diagnostics channels and the refusal counters, the
 * `rejected` hook (whose own failure is only logged), and the one-time warning that a GET-only
 * route can never receive the fallback's POSTs.
 */
import type { IncomingMessage } from 'node:http';
import { channels } from './diagnostics.js';
import type { HandshakeEndMessage, HandshakeStartMessage, Transport } from './diagnostics.js';
import type { Endpoint } from './endpoint.js';
import type { HandshakeRejection } from './errors.js';
import { isThenable, logError } from './hooks-errors.js';
import type { Hooks } from './options-types.js';

/** On a refused handshake request, while `switchyard:handshake:end` has subscribers: why. */
const kReason = Symbol('switchyard.reason');

/** Announces a handshake on `switchyard:handshake:start`, while it has subscribers. */
export function publishHandshakeStart(
  endpoint: Endpoint<any>,
  req: IncomingMessage,
  transport: Transport,
  path: string,
): void {
  if (channels.handshakeStart.hasSubscribers) {
    const message: HandshakeStartMessage = { endpoint, request: req, transport, path };
    channels.handshakeStart.publish(message);
  }
}

/** Counts a handshake that ended without a connection, and announces it with its reason. */
export function handshakeRefused(
  endpoint: Endpoint<any>,
  req: IncomingMessage,
  transport: Transport,
  path: string,
  status: number,
): void {
  endpoint.counters?.refuse(status);
  if (channels.handshakeEnd.hasSubscribers) {
    const reason = (req as IncomingMessage & { [kReason]?: string })[kReason] ?? '';
    const message: HandshakeEndMessage = {
      request: req,
      transport,
      path,
      status,
      accepted: false,
      reason,
      connection: undefined,
    };
    channels.handshakeEnd.publish(message);
  }
}

/** Tells the `rejected` hook about a refusal (status 0: the client left first); its own failure is only logged. */
export function notifyRejected(
  hooks: Hooks<any>,
  req: IncomingMessage,
  rejection: Pick<HandshakeRejection, 'status' | 'message'>,
  url: string,
  address?: string,
): void {
  if (channels.handshakeEnd.hasSubscribers)
    (req as IncomingMessage & { [kReason]?: string })[kReason] = rejection.message;
  const hook = hooks.rejected;
  if (!hook) return;
  const query = url.indexOf('?');
  try {
    const result = hook({
      status: rejection.status,
      reason: rejection.message,
      path: query === -1 ? url : url.slice(0, query),
      remoteAddress: address ?? req.socket?.remoteAddress,
    });
    if (isThenable(result)) result.then(undefined, (error: unknown) => logError(undefined, error));
  } catch (error) {
    logError(undefined, error);
  }
}

/** Warns once per endpoint that its GET-only route can't receive the fallback's POSTs. */
export class PostUnreachableWarning {
  #warned = false;

  warn(url: string): void {
    if (this.#warned) return;
    this.#warned = true;
    const path = url.split('?', 1)[0];
    process.emitWarning(
      `A fallback (SSE) session opened on ${path}, but this endpoint is mounted on a GET-only route, ` +
        'so the POSTs that carry its messages never reach it: the client gives up with "session expired". ' +
        'Mount it with app.use(path, websocket(...)) or router.all(path, websocket(...)), or set fallback: false.',
      { code: 'SWITCHYARD_FALLBACK_UNREACHABLE' },
    );
  }
}

/** Warns once per endpoint that it shed handshakes (`maxPendingHandshakes`). */
export class ShedWarning {
  #warned = false;

  warn(url: string, max: number): void {
    if (this.#warned) return;
    this.#warned = true;
    const path = url.split('?', 1)[0];
    process.emitWarning(
      `${path} had ${max} handshakes in progress (maxPendingHandshakes) and answered the next with 503 and ` +
        'Retry-After. A burst of reconnects or a slow upgrade hook does this; endpoint.stats().handshakes.shed ' +
        'and the switchyard:limit channel count them. See docs/deployment.md for tuning.',
      { code: 'SWITCHYARD_HANDSHAKES_SHED' },
    );
  }
}
