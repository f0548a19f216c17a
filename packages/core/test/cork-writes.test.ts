// corkWrites (src/internals/ws.ts), which a resume's replay writes through: whatever happens inside
// the write (the peer gone, the socket destroyed, the write throwing), the socket is uncorked on
// the next tick and nothing escapes to the process; a transport that is not a ws just writes.
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { corkWrites } from '../src/internals/ws.js';

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

/** A real ws pair on 127.0.0.1: the server's side of it, and what the client received. */
async function pair(): Promise<{ server: WebSocket; received: string[]; client: WebSocket }> {
  const http = createServer();
  const wss = new WebSocketServer({ server: http });
  http.listen(0, '127.0.0.1');
  await once(http, 'listening');
  const client = new WebSocket(`ws://127.0.0.1:${(http.address() as AddressInfo).port}`);
  const received: string[] = [];
  client.on('message', (data) => received.push(String(data)));
  client.on('error', () => {});
  const [server] = (await once(wss, 'connection')) as [WebSocket];
  await once(client, 'open');
  cleanups.push(() => {
    client.terminate();
    wss.close();
    http.close();
  });
  return { server, received, client };
}

function socketOf(ws: WebSocket): import('node:net').Socket {
  return (ws as unknown as { _socket: import('node:net').Socket })._socket;
}

describe('corkWrites', () => {
  it('holds the frames written inside it and sends them on the next tick, in order', async () => {
    const { server, received } = await pair();
    corkWrites(server, () => {
      for (let i = 0; i < 5; i++) server.send(`m${i}`);
      expect(socketOf(server).writableCorked).toBe(1);
    });
    expect(socketOf(server).writableCorked).toBe(1);
    await new Promise((resolve) => process.nextTick(resolve));
    expect(socketOf(server).writableCorked).toBe(0);
    await vi.waitFor(() => expect(received).toEqual(['m0', 'm1', 'm2', 'm3', 'm4']));
  });

  it('a socket destroyed inside the write, or a peer already gone: no throw, nothing escapes', async () => {
    const escaped = vi.fn();
    process.on('uncaughtException', escaped);
    cleanups.push(() => process.off('uncaughtException', escaped));
    const first = await pair();
    corkWrites(first.server, () => {
      first.server.send('a');
      socketOf(first.server).destroy();
      first.server.send('b');
    });
    const second = await pair();
    second.client.terminate();
    await vi.waitFor(() => expect(second.server.readyState).toBe(WebSocket.CLOSED));
    corkWrites(second.server, () => second.server.send('late'));
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(escaped).not.toHaveBeenCalled();
  });

  it('a write that throws propagates, and the socket is uncorked all the same', async () => {
    const { server, received } = await pair();
    expect(() =>
      corkWrites(server, () => {
        server.send('before');
        throw new Error('boom');
      }),
    ).toThrow('boom');
    await new Promise((resolve) => process.nextTick(resolve));
    expect(socketOf(server).writableCorked).toBe(0);
    server.send('after');
    await vi.waitFor(() => expect(received).toEqual(['before', 'after']));
  });

  it('a transport that is not a ws (the SSE session) just writes', () => {
    const write = vi.fn();
    corkWrites({ send() {} }, write);
    expect(write).toHaveBeenCalledTimes(1);
  });
});
