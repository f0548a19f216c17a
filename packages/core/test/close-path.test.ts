// The server side of a connection as ws runs it under switchyard: events reach the Connection
// without listeners, and a closing connection ends ws's Receiver and the socket once each,
// instead of building an unused Node error for every repeated end().
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { Duplex, Writable } from 'node:stream';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createEndpoint } from '../src/index.js';
import type { CloseEvent, Connection, Handlers } from '../src/index.js';
import { kWs } from '../src/connection/symbols.js';
import * as wsModule from 'ws';
import { RoutedWebSocket } from '../src/internals/ws.js';
import {
  Opcode,
  RawClient,
  closeCodeOf,
  closed,
  frame,
  handshakeRequest,
  messages,
  openWs,
} from '../../../test/helpers.js';

// The published types strip @internal members such as [kWs]; the test reaches past them.
// ws exports its Receiver class at run time; @types/ws leaves it out.
const { Receiver } = wsModule as unknown as { Receiver: { prototype: object } };

const rawOf = (connection: Connection): RoutedWebSocket => (connection as unknown as { [kWs]: RoutedWebSocket })[kWs];

type Ended = Writable & { end(...args: unknown[]): Writable };

const servers: http.Server[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

async function start(handlers: Handlers<undefined>): Promise<number> {
  const endpoint = createEndpoint(handlers);
  const server = http.createServer((req, res) => {
    void endpoint.handle(req, res);
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

/** Counts the stream end() calls that reach Node's own Writable.end for the given streams. */
function countEnds(streams: Writable[]): { counts: number[]; restore(): void } {
  const counts = streams.map(() => 0);
  const originals = [Writable.prototype, Duplex.prototype].map((proto) => [proto, proto.end] as const);
  for (const [proto, end] of originals) {
    proto.end = function counted(this: Writable, ...args: unknown[]) {
      const index = streams.indexOf(this);
      if (index !== -1) counts[index]!++;
      return (end as (...args: unknown[]) => Writable).apply(this, args);
    } as Writable['end'];
  }
  return {
    counts,
    restore: () => {
      for (const [proto, end] of originals) proto.end = end;
    },
  };
}

describe('the server side of a connection under ws', () => {
  it('is a RoutedWebSocket: events reach the connection with no listener on the ws object', async () => {
    let server: Connection | undefined;
    const port = await start({
      heartbeat: false,
      open(ws) {
        server = ws;
      },
      message(ws, data) {
        ws.send(data);
      },
    });
    const client = await openWs(`ws://127.0.0.1:${port}/ws`);
    const inbox = messages(client);
    client.send('routed');
    expect((await inbox.next()).data.toString()).toBe('routed');
    const raw = rawOf(server!);
    expect(raw).toBeInstanceOf(RoutedWebSocket);
    expect(raw.eventNames()).toEqual([]);
    client.close();
    await closed(client);
  });

  it("leaves an open connection's socket and Receiver as Node and ws made them, messages flowing", async () => {
    let server: Connection | undefined;
    const port = await start({
      heartbeat: false,
      open(ws) {
        server = ws;
      },
      message(ws, data) {
        ws.send(data);
      },
    });
    const client = await openWs(`ws://127.0.0.1:${port}/ws`);
    const inbox = messages(client);
    for (const size of [1, 200, 70_000]) {
      client.send(Buffer.alloc(size, 0x62));
      expect((await inbox.next()).data.length).toBe(size);
    }
    // A socket or Receiver of another shape (another prototype, an own property) makes Node's
    // stream code slower for every message; the end-once guard waits for the close.
    const raw = rawOf(server!) as unknown as { _receiver: object; _socket: object };
    expect(Object.getPrototypeOf(raw._socket)).toBe(net.Socket.prototype);
    expect(Object.getPrototypeOf(raw._receiver)).toBe(Receiver.prototype);
    expect(Object.hasOwn(raw._socket, 'end')).toBe(false);
    expect(Object.hasOwn(raw._receiver, 'end')).toBe(false);
    client.close();
    await closed(client);
  });

  it('a close after a protocol error (an unmasked frame) ends the Receiver and the socket once each', async () => {
    let server: Connection | undefined;
    const events: CloseEvent[] = [];
    const port = await start({
      heartbeat: false,
      open(ws) {
        server = ws;
      },
      close(_ws, event) {
        events.push(event);
      },
    });
    const client = await RawClient.connect(port);
    client.write(handshakeRequest('/ws'));
    expect((await client.response()).statusLine).toContain('101');
    await vi.waitFor(() => expect(server).toBeDefined());
    const raw = rawOf(server!) as unknown as { _receiver: Ended; _socket: Ended };
    const ends = countEnds([raw._receiver, raw._socket]);
    try {
      client.write(frame(Opcode.TEXT, 'not masked', { mask: false }));
      await client.until(() => closeCodeOf(client.frames().at(-1)) === 1002);
      // The peer leaves: ws's 'end' and 'close' handlers end both streams again.
      client.socket.end();
      await vi.waitFor(() => expect(events).toHaveLength(1));
      await new Promise((resolve) => setImmediate(resolve));
      // The Receiver failed and was destroyed by its error, so it is never ended; the socket
      // ends once. Each further end() would only build an error nobody sees.
      expect(ends.counts).toEqual([0, 1]);
      expect(raw._socket.destroyed).toBe(true);
    } finally {
      ends.restore();
      client.destroy();
    }
    expect(events[0]!.code).toBe(1002);
  });

  for (const side of ['client', 'server'] as const) {
    it(`a ${side}-initiated clean close ends the Receiver and the socket once each, and the close is still clean`, async () => {
      let server: Connection | undefined;
      const events: CloseEvent[] = [];
      const port = await start({
        heartbeat: false,
        open(ws) {
          server = ws;
          ws.send('hi');
        },
        close(_ws, event) {
          events.push(event);
        },
      });
      const client = await openWs(`ws://127.0.0.1:${port}/ws`);
      await messages(client).next();
      const raw = rawOf(server!) as unknown as { _receiver: Ended; _socket: Ended };
      const ends = countEnds([raw._receiver, raw._socket]);
      try {
        const done = closed(client);
        if (side === 'client') client.close(1000, 'bye');
        else server!.close(1000, 'bye');
        expect(await done).toEqual({ code: 1000, reason: 'bye' });
        await vi.waitFor(() => expect(events).toHaveLength(1));
        await new Promise((resolve) => setImmediate(resolve));
        // ws calls end() on the Receiver up to three times and on the socket twice; only the
        // first of each may reach Node's end(), which builds an error for every later one.
        expect(ends.counts).toEqual([1, 1]);
        expect(raw._receiver.writableFinished).toBe(true);
        expect(raw._socket.destroyed).toBe(true);
      } finally {
        ends.restore();
      }
      expect(events).toEqual([{ code: 1000, reason: 'bye', wasClean: true }]);
    });
  }

  it('end() with a callback or data still goes to the stream, and the callback runs', async () => {
    let server: Connection | undefined;
    const port = await start({
      heartbeat: false,
      open(ws) {
        server = ws;
        ws.send('hi');
      },
    });
    const client = await openWs(`ws://127.0.0.1:${port}/ws`);
    await messages(client).next();
    const receiver = (rawOf(server!) as unknown as { _receiver: Ended })._receiver;
    receiver.end();
    expect(receiver.writableEnded).toBe(true);
    // A second end() that asks for a callback must reach Node's end(), which calls it (with
    // ERR_STREAM_ALREADY_FINISHED once the stream finished); swallowing it would hang here.
    const settled = await new Promise<string>((resolve) => {
      receiver.end((error?: NodeJS.ErrnoException | null) => resolve(error?.code ?? 'finished'));
    });
    expect(['finished', 'ERR_STREAM_ALREADY_FINISHED']).toContain(settled);
    client.terminate();
  });
});
