/**
 * Conformance: what the HTTP side leaves on a socket after the hijack. An upgraded socket must
 * look exactly like one raw `ws` upgraded from a bare Node server: no socket timeout (each read
 * and write would re-arm a timer), no HTTP parser or response, and no listener of the HTTP
 * exchange (on-finished's, a framework's, Node's own), so that each frame costs what it costs
 * under raw ws. The raw ws socket is built in the same test, so a change in Node or ws moves both.
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import type WebSocket from 'ws';
import { messages, openWs } from '../helpers.js';
import type { Conformance } from './context.js';

/** The socket events an HTTP exchange or a WebSocket listens to. */
const EVENTS = ['data', 'end', 'close', 'error', 'drain', 'timeout', 'finish', 'readable', 'pause', 'resume'];

interface SocketState {
  listeners: Record<string, number>;
  timeout: number;
  parser: unknown;
  response: unknown;
  flowing: boolean | null;
  highWaterMark: number;
}

function stateOf(socket: Socket): SocketState {
  const internal = socket as Socket & { parser?: unknown; _httpMessage?: unknown };
  return {
    listeners: Object.fromEntries(EVENTS.map((event) => [event, socket.listenerCount(event)])),
    timeout: socket.timeout ?? 0,
    parser: internal.parser ?? null,
    response: internal._httpMessage ?? null,
    flowing: socket.readableFlowing,
    highWaterMark: socket.readableHighWaterMark,
  };
}

/** Resolves with the server side of the next connection `server` accepts. */
function nextSocket(server: http.Server): Promise<Socket> {
  return new Promise((resolve) => server.once('connection', resolve));
}

function echoBack(this: WebSocket, data: Buffer, isBinary: boolean): void {
  this.send(data, { binary: isBinary });
}

/** Sends one message and waits for its echo: the connection is open at both ends. */
async function echoOnce(url: string): Promise<WebSocket> {
  const ws = await openWs(url);
  ws.send('x');
  await messages(ws).next();
  return ws;
}

/** The state of a socket that raw ws upgraded from a bare Node server with the same timeouts. */
async function rawWsState(timeout: number): Promise<SocketState> {
  const wss = new WebSocketServer({ noServer: true });
  const server = http.createServer((_req, res) => res.end());
  server.setTimeout(timeout);
  // The harness's servers track their sockets with one 'close' listener each (test/harness.ts).
  server.on('connection', (socket) => socket.once('close', () => {}));
  server.on('upgrade', (req, socket, head) => wss.handleUpgrade(req, socket, head, (ws) => ws.on('message', echoBack)));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const accepted = nextSocket(server);
  const client = await echoOnce(`ws://127.0.0.1:${(server.address() as AddressInfo).port}/`);
  const state = stateOf(await accepted);
  client.terminate();
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  return state;
}

export function describeSocketState({ serve, track }: Conformance): void {
  describe('the socket after the hijack', () => {
    it('carries no timeout, parser, response or HTTP listener: the same state as a raw ws socket', async () => {
      // A server timeout arms every accepted socket; an upgraded one must not keep it.
      const timeout = 120_000;
      // Default options, as the benchmark's echo endpoints have them.
      const s = await serve([{ path: '/echo', handlers: { message: (ws, data) => ws.send(data) } }]);
      s.server.setTimeout(timeout);
      const accepted = nextSocket(s.server);
      track(await echoOnce(s.url('/echo')));
      const state = stateOf(await accepted);
      expect(state.timeout).toBe(0);
      expect(state.parser).toBeNull();
      expect(state.response).toBeNull();
      expect(state).toEqual(await rawWsState(timeout));
    });
  });
}
