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
 */
import { ServerResponse } from 'node:http';
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { asksForUpgrade } from './handshake.js';
import { internalRoute, markUpgrade, onRequestStart as watchRequestStarts, parserFor, runUpgradeStep, serverOf, storedListeners, warnIfDegraded } from './internals.js';
import { afterEarlierResponses } from './pipelining.js';
import type { StoredListeners as Stored } from './internals.js';

export { serverOf };

/** A socket that has left Node's HTTP machinery, and the bytes that followed the headers. */
export interface TakenSocket {
  socket: Duplex;
  head: Buffer;
}

/**
 * An upgrade request on its way out of Node's HTTP machinery. Kept in a WeakMap, not on the
 * request: frameworks reshape requests (Express swaps their prototype), and a new property on
 * such an object cost microseconds per handshake in the profile.
 */
class Takeover {
  socket: Duplex | undefined = undefined;
  head: Buffer | undefined = undefined;
  resolve: ((taken: TakenSocket) => void) | undefined = undefined;
  /** The socket's listeners before the framework saw the request (see releaseRequestListeners). */
  baseline: Array<Function | Function[] | undefined> | undefined = undefined;
  /** The path the late-write warning names, once the response is detached. */
  path: string | undefined = undefined;
}

const takeovers = new WeakMap<IncomingMessage, Takeover>();

function startTakeover(req: IncomingMessage): Takeover {
  const takeover = new Takeover();
  takeovers.set(req, takeover);
  return takeover;
}

/** Socket events that request-scoped code (on-finished, loggers) listens to. */
const REQUEST_EVENTS = ['error', 'close', 'end', 'finish', 'timeout', 'drain'] as const;

/**
 * The socket's listeners of REQUEST_EVENTS, read from EventEmitter's own store (one array per
 * handshake instead of a Map and six copies); EventEmitter grows an array in place, so arrays
 * are copied.
 */
function snapshotListeners(socket: Duplex): Stored[] {
  const baseline: Stored[] = [];
  for (const event of REQUEST_EVENTS) {
    const stored = storedListeners(socket, event);
    baseline.push(Array.isArray(stored) ? stored.slice() : stored);
  }
  return baseline;
}

function isIn(listener: Function, stored: Stored): boolean {
  return stored === listener || (Array.isArray(stored) && stored.includes(listener));
}

/**
 * Removes the socket listeners that the framework attached while it handled the upgrade
 * request (Koa's and Express's on-finished add 'error' and 'close'). They belong to an HTTP
 * exchange that is over: left in place, a client's reset would surface as an app error, a 500
 * written into the WebSocket, and the whole request context would stay in memory per
 * connection. Listeners that were there before the request (connection tracking) stay.
 */
export function releaseRequestListeners(req: IncomingMessage, socket: Duplex): void {
  const baseline = takeovers.get(req)?.baseline;
  if (!baseline) return;
  for (let i = 0; i < REQUEST_EVENTS.length; i++) {
    const event = REQUEST_EVENTS[i]!;
    const now = storedListeners(socket, event);
    if (now === undefined || now === baseline[i]) continue;
    for (const stored of Array.isArray(now) ? now.slice() : [now]) {
      // removeListener accepts a once() wrapper as stored, as well as what was passed to once().
      if (stored !== ignoreSocketError && !isIn(stored, baseline[i])) {
        socket.removeListener(event, stored as (...args: unknown[]) => void);
      }
    }
  }
}

const kRouting = Symbol('switchyard.routing');

function ignoreSocketError(): void {
  // Until a WebSocket owns it, a reset from the client is nobody's business: Node removed its
  // own error listener when it handed the socket over, and an unhandled 'error' would crash.
}

/** Removes the guard listener once a WebSocket (which listens for errors itself) owns the socket. */
export function releaseSocket(socket: Duplex): void {
  socket.removeListener('error', ignoreSocketError);
}

/**
 * Makes `server` deliver upgrade requests through the 'upgrade' event and run them through its
 * 'request' listeners (the Express or Koa app) with a response bound to the raw socket.
 * Idempotent. Called automatically the first time switchyard sees a request on a server; call
 * it yourself when another 'upgrade' listener is added before any request arrives.
 */
export function routeUpgrades(server: Server): void {
  const marked = server as Server & { [kRouting]?: true };
  if (marked[kRouting]) return;
  marked[kRouting] = true;
  server.on('upgrade', onServerUpgrade);
}

let watching = false;

/**
 * Starts marking upgrade requests on every HTTP server of this process before their 'request'
 * listeners run. Process-wide by nature (a diagnostics channel), hence the one flag; it only
 * changes servers that receive a WebSocket handshake, and only in ways Node itself would
 * behave for an upgrade.
 */
export function watchServers(): void {
  if (watching) return;
  watching = true;
  warnIfDegraded();
  watchRequestStarts(onRequestStart);
}

function onRequestStart(message: unknown): void {
  const { request, response, server } = message as { request: IncomingMessage; response: ServerResponse; server: Server };
  // Only when llhttp itself stopped at the upgrade: otherwise it parses on as HTTP.
  if (!asksForUpgrade(request) || takeovers.has(request)) return;
  routeUpgrades(server);
  startTakeover(request).baseline = snapshotListeners(request.socket);
  markUpgrade(request);
  // After an HTTP answer from middleware, no second request can follow on this connection.
  response.shouldKeepAlive = false;
}

function onServerUpgrade(this: Server, req: IncomingMessage, socket: Duplex, head: Buffer): void {
  const pending = takeovers.get(req);
  if (pending) {
    // Marked before its 'request' event: the framework is already running for this request.
    socket.on('error', ignoreSocketError);
    pending.socket = socket;
    pending.head = head;
    pending.resolve?.({ socket, head });
    return;
  }
  if (this.listenerCount('upgrade') === 1) {
    dispatchUpgrade(this, req, socket, head);
  } else {
    // Other 'upgrade' listeners (a raw ws server on /other, a proxy) run after us in this same
    // emit; let them claim the socket first and only route what nobody took.
    queueMicrotask(() => {
      if (!isClaimed(socket)) dispatchUpgrade(this, req, socket, head);
    });
  }
}

function isClaimed(socket: Duplex): boolean {
  const net = socket as Duplex & { bytesWritten?: number };
  return socket.destroyed || !socket.writable || socket.listenerCount('error') > 0 ||
    socket.listenerCount('data') > 0 || socket.writableLength > 0 || (net.bytesWritten ?? 0) > 0;
}

function endSocket(this: ServerResponse): void {
  const socket = this.socket;
  if (socket && this.end !== dropLateWrite) socket.end();
}

function dispatchUpgrade(server: Server, req: IncomingMessage, socket: Duplex, head: Buffer): void {
  socket.on('error', ignoreSocketError);
  const ready = afterEarlierResponses(socket, undefined);
  if (ready instanceof Promise) {
    void ready.then((held) => {
      if (held) runUpgradeRequest(server, req, socket, held.length > 0 ? Buffer.concat([head, held]) : head);
      else socket.destroy();
    });
  } else if (ready) {
    runUpgradeRequest(server, req, socket, head);
  } else {
    socket.destroy();
  }
}

/**
 * Without `_httpMessage` an earlier pipelined answer can't be waited for: an upgrade behind one
 * is dropped (Node refuses to assign the socket twice) instead of answered out of order.
 */
function canAssign(res: ServerResponse, socket: Duplex): boolean {
  try {
    res.assignSocket(socket as Parameters<ServerResponse['assignSocket']>[0]);
    res.detachSocket(socket as Parameters<ServerResponse['detachSocket']>[0]);
    return true;
  } catch {
    socket.destroy();
    return false;
  }
}

function runUpgradeRequest(server: Server, req: IncomingMessage, socket: Duplex, head: Buffer): void {
  const res = new ServerResponse(req);
  // The parser is gone, so this connection can carry no second request.
  res.shouldKeepAlive = false;
  if (!internalRoute.responseSocket && socket.listenerCount('close') > 0 && !canAssign(res, socket)) return;
  res.assignSocket(socket as Parameters<ServerResponse['assignSocket']>[0]);
  res.on('finish', endSocket);
  const takeover = startTakeover(req);
  takeover.socket = socket;
  takeover.head = head;
  takeover.baseline = snapshotListeners(socket);
  server.emit('request', req, res);
}

/**
 * Takes the request's socket for a WebSocket, whichever way the request arrived. After this,
 * nothing written to `res` reaches the socket: late writes are dropped, with one warning per
 * server and path that names the path.
 */
export function takeSocket(req: IncomingMessage, res: ServerResponse | undefined, path: string): Promise<TakenSocket> | TakenSocket {
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

function takeFromParser(req: IncomingMessage, res: ServerResponse | undefined, path: string): Promise<TakenSocket> | TakenSocket {
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
  if (pending.baseline) return new Promise<TakenSocket>((resolve) => { pending.resolve = resolve; });

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

const kWarnedPaths = Symbol('switchyard.warnedPaths');

function dropLateWrite(this: ServerResponse): ServerResponse {
  const path = takeovers.get(this.req)?.path ?? 'a request';
  const server = serverOf(this.req) as (Server & { [kWarnedPaths]?: Set<string> }) | undefined;
  const warned = server ? (server[kWarnedPaths] ??= new Set()) : undefined;
  if (!warned?.has(path)) {
    warned?.add(path);
    process.emitWarning(
      `A response was written after the WebSocket upgrade of ${path}; switchyard dropped it. ` +
      'Once a socket is upgraded, middleware must not answer the HTTP request.',
      { code: 'SWITCHYARD_LATE_WRITE' },
    );
  }
  return this;
}

function dropLateWriteTrue(this: ServerResponse): boolean {
  dropLateWrite.call(this);
  return true;
}

/** Per response prototype (Express swaps in its own), one that drops every write. */
const droppingPrototypes = new WeakMap<object, object>();

function droppingPrototypeOf(proto: object): object {
  let dropping = droppingPrototypes.get(proto);
  if (!dropping) {
    dropping = Object.create(proto, {
      writeHead: { value: dropLateWrite, writable: true, configurable: true },
      end: { value: dropLateWrite, writable: true, configurable: true },
      write: { value: dropLateWriteTrue, writable: true, configurable: true },
      flushHeaders: { value: dropLateWrite, writable: true, configurable: true },
    }) as object;
    droppingPrototypes.set(proto, dropping);
  }
  return dropping;
}

function detachResponse(res: ServerResponse, socket: Duplex): void {
  // Only a response that holds the socket now; one still queued behind an earlier pipelined
  // response is detached once Node assigns it (see inTurn).
  if (res.socket === socket) res.detachSocket(socket as Parameters<ServerResponse['detachSocket']>[0]);
  // Express's finalhandler and Koa's respond() write through these; none may reach the socket.
  const proto = Object.getPrototypeOf(res) as object;
  if (proto === ServerResponse.prototype) {
    res.writeHead = dropLateWrite as unknown as ServerResponse['writeHead'];
    res.end = dropLateWrite as unknown as ServerResponse['end'];
    res.write = dropLateWriteTrue as unknown as ServerResponse['write'];
    res.flushHeaders = dropLateWrite as unknown as ServerResponse['flushHeaders'];
  } else {
    // New own properties on a response whose prototype a framework swapped (Express) cost
    // microseconds each; one prototype swap to a cached dropping prototype does not.
    Object.setPrototypeOf(res, droppingPrototypeOf(proto));
  }
}
