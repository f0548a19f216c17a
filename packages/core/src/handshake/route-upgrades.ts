/**
 * The server side of the takeover: marking upgrade requests before their framework sees them
 * (watchServers), and routing a server's 'upgrade' events through its 'request' listeners with
 * a response bound to the raw socket (routeUpgrades), so middleware can still answer with HTTP.
 * See hijack.ts for why switchyard never takes a socket from the 'request' event.
 */
import { ServerResponse } from 'node:http';
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { asksForUpgrade, isWebSocketRequest } from './handshake.js';
import { internalRoute, markUpgrade, onRequestStart as watchRequestStarts, warnIfDegraded } from '../internals/node.js';
import { warnIfForeignAnswer, watchForeignAnswer } from './foreign-answer.js';
import { dropLateWrite } from './late-write.js';
import { afterEarlierResponses } from './pipelining.js';
import { ignoreSocketError, snapshotListeners, startTakeover, takeovers } from './takeover.js';

const kRouting = Symbol('switchyard.routing');
const kShape = Symbol('switchyard.upgradeShape');

/** Adds, before a routed upgrade reaches the framework, the properties it will set on the request. */
export type UpgradeShape = (req: IncomingMessage, res: ServerResponse) => void;

/**
 * Registers the framework's per-request properties for `server`'s routed upgrades (an adapter's
 * business). Express swaps the request's and response's prototypes and then adds properties
 * (`req.next`, `req.params`, `res.locals`, ...); V8 shares no hidden class between objects that
 * gained a property after a prototype swap, so each such addition builds a new one, about 4,000
 * instructions apiece. Added beforehand (as undefined), they are plain stores.
 */
export function shapeUpgradeRequests(server: Server, shape: UpgradeShape): void {
  (server as Server & { [kShape]?: UpgradeShape })[kShape] = shape;
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

/**
 * What Express and its router add to every request and response after swapping their
 * prototypes, added beforehand to a routed upgrade's (see shapeUpgradeRequests): each
 * would otherwise build a new hidden class per handshake. The values stay undefined, as they
 * read before Express sets them; `originalUrl` is set from `req.url` by the router either way.
 */
export function expressUpgradeShape(req: IncomingMessage, res: ServerResponse): void {
  const request = req as IncomingMessage & Record<string, unknown>;
  request.next = undefined;
  request.baseUrl = undefined;
  request.originalUrl = undefined;
  request._parsedUrl = undefined;
  request.params = undefined;
  request.route = undefined;
  const response = res as ServerResponse & Record<string, unknown>;
  response.locals = undefined;
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
  const { request, response, server } = message as {
    request: IncomingMessage;
    response: ServerResponse;
    server: Server;
  };
  // Only when llhttp itself stopped at the upgrade: otherwise it parses on as HTTP.
  if (!asksForUpgrade(request) || takeovers.has(request)) return;
  routeUpgrades(server);
  startTakeover(request).baseline = snapshotListeners(request.socket);
  markUpgrade(request);
  // After an HTTP answer from middleware, no second request can follow on this connection.
  response.shouldKeepAlive = false;
  watchForeignAnswer(response);
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
  return (
    socket.destroyed ||
    !socket.writable ||
    socket.listenerCount('error') > 0 ||
    socket.listenerCount('data') > 0 ||
    socket.writableLength > 0 ||
    (net.bytesWritten ?? 0) > 0
  );
}

function endSocket(this: ServerResponse): void {
  const socket = this.socket;
  if (socket && this.end !== dropLateWrite) socket.end();
}

/**
 * endSocket and the foreign-answer warning in one 'finish' listener: a second listener, added
 * with once(), cost a wrapper closure and its state per handshake.
 */
function endSocketAndWarn(this: ServerResponse): void {
  endSocket.call(this);
  warnIfForeignAnswer.call(this);
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
  res.on('finish', isWebSocketRequest(req) ? endSocketAndWarn : endSocket);
  const takeover = startTakeover(req);
  takeover.socket = socket;
  takeover.head = head;
  takeover.baseline = snapshotListeners(socket);
  (server as Server & { [kShape]?: UpgradeShape })[kShape]?.(req, res);
  server.emit('request', req, res);
}
