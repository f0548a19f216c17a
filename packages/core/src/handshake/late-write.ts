/**
 * Late-write dropping: once a request's socket is taken for a WebSocket, nothing the framework
 * still writes to its response (Express's finalhandler, Koa's respond()) may reach the socket.
 * Such writes are dropped, with one SWITCHYARD_LATE_WRITE warning per server and path.
 */
import { ServerResponse } from 'node:http';
import type { Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { serverOf } from '../internals/node.js';
import { takeovers } from './takeover.js';

const kWarnedPaths = Symbol('switchyard.warnedPaths');

/** Stands in for writeHead, end and flushHeaders of a detached response: drops, warns once. */
export function dropLateWrite(this: ServerResponse): ServerResponse {
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

/** Detaches `res` from the socket, and makes every later write to it a dropped one. */
export function detachResponse(res: ServerResponse, socket: Duplex): void {
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
