/**
 * Taking a socket away from Node's HTTP machinery.
 *
 * Node hands an upgrade request to the server's 'upgrade' event only when something listens for
 * it; otherwise (and on Node >= 24.9 whenever `shouldUpgradeCallback` says no) the request goes
 * to the 'request' event like any other, and Express or Koa see it there. A socket taken from
 * the 'request' event is still owned by the HTTP parser: bytes after the headers are swallowed,
 * and the request, headers and keep-alive timers stay armed, so Node later writes
 * `HTTP/1.1 408 Request Timeout` into a live WebSocket.
 *
 * So switchyard never takes a socket from the 'request' event. It marks the request as an
 * upgrade before the framework sees it (through the `http.server.request.start` diagnostics
 * channel), and Node's own upgrade code then unhooks the parser, its timers and listeners, and
 * hands over the bytes that followed the headers through the 'upgrade' event, while the
 * framework's middleware still runs with a normal response object. From then on the server's
 * upgrades arrive through {@link routeUpgrades}, which runs them through the framework with a
 * response bound to the raw socket, so middleware can still answer with HTTP.
 *
 * This module is the takeover of one request's socket (takeSocket); the per-request state is in
 * takeover.ts, the server's routing in route-upgrades.ts, late-write dropping in late-write.ts.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { internalRoute, markUpgrade, parserFor, runUpgradeStep, serverOf } from '../internals/node.js';
import { detachResponse } from './late-write.js';
import { afterEarlierResponses } from './pipelining.js';
import { routeUpgrades } from './route-upgrades.js';
import { ignoreSocketError, startTakeover, takeovers } from './takeover.js';
import type { TakenSocket } from './takeover.js';

export { serverOf };

/**
 * Takes the request's socket for a WebSocket, whichever way the request arrived. After this,
 * nothing written to `res` reaches the socket: late writes are dropped, with one warning per
 * server and path that names the path.
 */
export function takeSocket(
  req: IncomingMessage,
  res: ServerResponse | undefined,
  path: string,
): Promise<TakenSocket> | TakenSocket {
  const taken = takeFromParser(req, res, path);
  return taken instanceof Promise ? taken.then((one) => inTurn(one, res)) : inTurn(taken, res);
}

/**
 * The socket once every earlier pipelined response on it has gone out (see
 * afterEarlierResponses); the response of this request itself is detached from it then, when
 * Node has assigned it meanwhile.
 */
function inTurn(taken: TakenSocket, res: ServerResponse | undefined): Promise<TakenSocket> | TakenSocket {
  const ready = afterEarlierResponses(taken.socket, res);
  if (!(ready instanceof Promise)) return detachOwn(taken, res, ready);
  return ready.then((held) => detachOwn(taken, res, held));
}

function detachOwn(taken: TakenSocket, res: ServerResponse | undefined, held: Buffer | undefined): TakenSocket {
  if (res?.socket) res.detachSocket(res.socket as Parameters<ServerResponse['detachSocket']>[0]);
  // A socket that can no longer answer goes on as it is: the endpoint checks it before writing.
  return held && held.length > 0 ? { socket: taken.socket, head: Buffer.concat([taken.head, held]) } : taken;
}

function takeFromParser(
  req: IncomingMessage,
  res: ServerResponse | undefined,
  path: string,
): Promise<TakenSocket> | TakenSocket {
  const server = serverOf(req);
  if (server) routeUpgrades(server);
  const pending = takeovers.get(req) ?? startTakeover(req);
  if (res) {
    const query = path.indexOf('?');
    pending.path = query === -1 ? path : path.slice(0, query);
    detachResponse(res, req.socket);
  }
  if (pending.socket && pending.head) return { socket: pending.socket, head: pending.head };
  // A baseline means the request was marked before the framework saw it; its socket is on the way.
  if (pending.baseline)
    return new Promise<TakenSocket>((resolve) => {
      pending.resolve = resolve;
    });

  const socket = req.socket;
  const parser = parserFor(socket, req);
  if (!parser) {
    // Node no longer parses for this socket (it was handed over elsewhere), or the internal
    // route is off: take it as it is.
    if (!internalRoute.enabled) leaveHttp(socket);
    socket.on('error', ignoreSocketError);
    return { socket, head: Buffer.alloc(0) };
  }
  // Not marked in advance (a server the diagnostics channel doesn't cover, or a request llhttp
  // did not stop at): mark it now.
  return new Promise<TakenSocket>((resolve) => {
    pending.resolve = resolve;
    markUpgrade(req);
    runUpgradeStep(parser);
  });
}

/**
 * The public route's takeover of a socket whose request came through the 'request' event (the
 * first upgrade on a server before `routeUpgrades` ran): the HTTP server's readers go, so that
 * frames never reach its parser, and so do its timeouts. Its 'error' and 'close' listeners stay:
 * they only tidy up. Later upgrades on the server arrive through its 'upgrade' event.
 */
function leaveHttp(socket: Duplex): void {
  socket.removeAllListeners('data');
  socket.removeAllListeners('end');
  socket.removeAllListeners('timeout');
  (socket as Duplex & { setTimeout?(ms: number): unknown }).setTimeout?.(0);
}
