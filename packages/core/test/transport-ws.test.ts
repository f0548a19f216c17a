// The ws transport (src/internals/ws.ts): the load-time check of ws's private members and
// what each use of them does, on real sockets over 127.0.0.1.
import { EventEmitter } from 'node:events';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import {
  RoutedWebSocket,
  frameMessage,
  ServerWebSocket,
  drainSource,
  failWebSocket,
  isRouted,
  pauseReading,
  routeWsEvents,
  writeFrame,
  wsInternals,
} from '../src/internals/ws.js';

const servers: Server[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

/** A ws server on 127.0.0.1:0 whose sockets are ServerWebSocket; resolves with the first one. */
async function serve(perMessageDeflate = false): Promise<{ port: number; accepted: Promise<WebSocket> }> {
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate, WebSocket: ServerWebSocket });
  const server = createServer();
  servers.push(server);
  const accepted = new Promise<WebSocket>((resolve) => {
    server.on('upgrade', (req, socket, head) => wss.handleUpgrade(req, socket, head, resolve));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as AddressInfo).port, accepted };
}

async function client(port: number, perMessageDeflate = false): Promise<WebSocket> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/`, { perMessageDeflate });
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  return ws;
}

function nextMessage(ws: WebSocket): Promise<string> {
  return new Promise((resolve) => ws.once('message', (data) => resolve(data.toString())));
}

describe('transport-ws: what the check found', () => {
  it('finds every private member on the ws this repo ships with, and routes events', () => {
    expect(wsInternals).toEqual({ routed: true, frames: true, failFast: true });
    expect(ServerWebSocket).toBe(RoutedWebSocket);
  });
});

describe('transport-ws: writeFrame', () => {
  it("writes a hub's shared frame straight to the socket, and the client reads the message", async () => {
    const { port, accepted } = await serve();
    const peer = await client(port);
    const server = await accepted;
    const socketWrite = vi.spyOn((server as unknown as { _socket: net.Socket })._socket, 'write');
    const send = vi.spyOn(server, 'send');
    const received = nextMessage(peer);
    writeFrame(server, frameMessage('shared', false), 'shared', false);
    expect(await received).toBe('shared');
    expect(socketWrite).toHaveBeenCalledTimes(1);
    expect(send).not.toHaveBeenCalled();
    peer.terminate();
  });

  it('falls back to send() under permessage-deflate, and the message still arrives intact', async () => {
    const { port, accepted } = await serve(true);
    const peer = await client(port, true);
    const server = await accepted;
    expect(server.extensions).toContain('permessage-deflate');
    const send = vi.spyOn(server, 'send');
    const text = 'x'.repeat(4096);
    const received = nextMessage(peer);
    writeFrame(server, frameMessage(text, false), text, false);
    expect(await received).toBe(text);
    expect(send).toHaveBeenCalledTimes(1);
    peer.terminate();
  });

  it('keeps order behind a send that ws still holds: every message arrives, in order', async () => {
    const { port, accepted } = await serve();
    const peer = await client(port);
    const server = await accepted;
    const got: string[] = [];
    const all = new Promise<void>((resolve) =>
      peer.on('message', (data) => {
        got.push(data.toString());
        if (got.length === 200) resolve();
      }),
    );
    for (let i = 0; i < 200; i++) {
      if (i % 2 === 0) server.send(String(i));
      else writeFrame(server, frameMessage(String(i), false), String(i), false);
    }
    await all;
    expect(got).toEqual(Array.from({ length: 200 }, (_, i) => String(i)));
    peer.terminate();
  });

  it('uses send() on a transport that is not a WebSocket', () => {
    const sent: unknown[] = [];
    writeFrame({ send: (data, options) => sent.push([data, options]) }, frameMessage('a', false), 'a', false);
    expect(sent).toEqual([['a', { binary: false }]]);
  });
});

describe('transport-ws: failWebSocket', () => {
  it('sends one close frame and ends TCP without waiting for a peer that never answers', async () => {
    const { port, accepted } = await serve();
    // A raw client that completes the handshake and then never answers the close frame.
    const raw = net.connect(port, '127.0.0.1');
    raw.write(
      'GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
    );
    const server = await accepted;
    const bytes: Buffer[] = [];
    raw.on('data', (chunk: Buffer) => bytes.push(chunk));
    const ended = new Promise<void>((resolve) => raw.once('end', resolve));
    const closed = new Promise<number>((resolve) => server.once('close', (code: number) => resolve(code)));
    const started = performance.now();
    failWebSocket(server, 1002);
    await ended;
    // ws's own close timeout is 30 s; failing ends as soon as the frame is out.
    expect(performance.now() - started).toBeLessThan(5000);
    const all = Buffer.concat(bytes);
    const frame = all.subarray(all.indexOf('\r\n\r\n') + 4);
    expect([...frame]).toEqual([0x88, 0x02, 0x03, 0xea]);
    raw.destroy();
    expect(await closed).toBe(1006);
  });

  it('closes a transport that is not a WebSocket with the code', () => {
    const close = vi.fn();
    failWebSocket({ close }, 1009);
    expect(close).toHaveBeenCalledWith(1009);
  });
});

describe('transport-ws: drain and reading', () => {
  it("drains from the WebSocket's TCP socket, and from anything else itself", async () => {
    const { port, accepted } = await serve();
    const peer = await client(port);
    const server = await accepted;
    expect(drainSource(server)).toBeInstanceOf(net.Socket);
    const session = new EventEmitter();
    expect(drainSource(session)).toBe(session);
    peer.terminate();
  });

  it("pauses and resumes a WebSocket; anything else says it can't", async () => {
    const { port, accepted } = await serve();
    const peer = await client(port);
    const server = await accepted;
    expect(pauseReading(server, true)).toBe(true);
    expect(server.isPaused).toBe(true);
    const received = nextMessage(server);
    peer.send('held');
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(pauseReading(server, false)).toBe(true);
    expect(await received).toBe('held');
    expect(pauseReading(new EventEmitter(), true)).toBe(false);
    peer.terminate();
  });
});

describe('transport-ws: RoutedWebSocket', () => {
  it('hands events of an owned socket to the sink without listeners; listeners added still run', async () => {
    const key = Symbol('test.owner');
    const seen: string[] = [];
    routeWsEvents(
      {
        message(data, isBinary) {
          seen.push(`message:${String(data)}:${isBinary}`);
        },
        close(code) {
          seen.push(`close:${code}`);
        },
        error(error) {
          seen.push(`error:${error.message}`);
        },
        ping() {
          seen.push('ping');
        },
        pong() {
          seen.push('pong');
        },
      },
      key,
    );
    const { port, accepted } = await serve();
    const peer = await client(port);
    const server = await accepted;
    expect(isRouted(server)).toBe(true);
    (server as unknown as Record<symbol, unknown>)[key] = {};
    expect(server.listenerCount('message')).toBe(0);
    const listened = nextMessage(server);
    peer.send('hello');
    expect(await listened).toBe('hello');
    peer.ping();
    const closed = new Promise((resolve) => server.once('close', resolve));
    peer.close(1000);
    await closed;
    expect(seen).toEqual(['message:hello:false', 'ping', 'close:1000']);
  });
});
