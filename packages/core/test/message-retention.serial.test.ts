// A received message's memory is the app's to keep or drop: once a default endpoint (stats and
// heartbeat on, no other option) has delivered it to the `message` hook, a listener or a
// `for await` loop, and the echo of it has been written, switchyard holds no reference to its
// Buffer while the connection stays open: no last-message field, no queue slot, no pending
// list, no copy. A Buffer held per connection keeps its external memory out of reach of the
// young-generation collector, which is what decides the GC mode of the 16 KiB echo
// (bench/README.md, "The 16 KiB echo rows"). Serial: it collects garbage and counts survivors.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { createEndpoint } from '../src/index.js';
import type { Connection, Handlers } from '../src/index.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** 256 KiB: more than one TCP read, so ws joins the parts into a Buffer of the message's own. */
const SIZE = 256 * 1024;
const MESSAGES = 8;

const servers: http.Server[] = [];
const clients: WebSocket[] = [];
afterEach(async () => {
  // An upgraded socket is not the HTTP server's to close: the client ends it.
  for (const client of clients.splice(0)) client.terminate();
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

/**
 * Sends MESSAGES messages one after another, each after the echo of the one before; with
 * `moveOn`, then one small message, which moves a `for await` loop's own `data` variable (held
 * by its suspended frame, the app's and not switchyard's) past the large ones. The connection
 * stays open.
 */
async function echoAll(port: number, moveOn = false, fragments = 1): Promise<WebSocket> {
  const client = new WebSocket(`ws://127.0.0.1:${port}/`);
  clients.push(client);
  await new Promise((resolve, reject) => {
    client.once('open', resolve);
    client.once('error', reject);
  });
  for (let i = 0; i < MESSAGES; i++) {
    const echoed = new Promise<number>((resolve) => client.once('message', (data: Buffer) => resolve(data.length)));
    const payload = Buffer.alloc(SIZE, i);
    const part = SIZE / fragments;
    for (let at = 0; at < SIZE; at += part)
      client.send(payload.subarray(at, at + part), { binary: true, fin: at + part >= SIZE });
    expect(await echoed).toBe(SIZE);
  }
  if (moveOn) {
    const small = new Promise<number>((resolve) => client.once('message', (data: Buffer) => resolve(data.length)));
    client.send(Buffer.from('next'));
    expect(await small).toBe(4);
  }
  return client;
}

/** How many of the tracked ArrayBuffers are still alive after full collections. */
async function survivors(tracked: Array<WeakRef<ArrayBufferLike>>): Promise<number> {
  for (let i = 0; i < 4; i++) {
    // A WeakRef made in a task holds its target until that task ends: collect in later ones.
    await new Promise((resolve) => setTimeout(resolve, 10));
    gc();
  }
  return tracked.filter((ref) => ref.deref() !== undefined).length;
}

/** Remembers the memory behind a delivered large message without keeping it alive. */
function track(tracked: Array<WeakRef<ArrayBufferLike>>, data: Buffer): void {
  // The whole ArrayBuffer: what external memory counts, whichever view of it is kept.
  if (data.byteLength === SIZE) tracked.push(new WeakRef(data.buffer));
}

describe('a delivered message is not retained by switchyard', () => {
  it('through the message hook, with the connection still open', async () => {
    const tracked: Array<WeakRef<ArrayBufferLike>> = [];
    const port = await start({
      message(ws, data) {
        track(tracked, data as Buffer);
        ws.send(data);
      },
    });
    const client = await echoAll(port);
    expect(tracked).toHaveLength(MESSAGES);
    expect(await survivors(tracked)).toBe(0);
    // Collected while the connection is open, not by closing it.
    expect(client.readyState).toBe(WebSocket.OPEN);
  });

  it('when each message came in 64 fragments, which ws joins into one Buffer', async () => {
    const tracked: Array<WeakRef<ArrayBufferLike>> = [];
    const port = await start({
      message(ws, data) {
        track(tracked, data as Buffer);
        ws.send(data);
      },
    });
    const client = await echoAll(port, false, 64);
    expect(tracked).toHaveLength(MESSAGES);
    expect(await survivors(tracked)).toBe(0);
    // Collected while the connection is open, not by closing it.
    expect(client.readyState).toBe(WebSocket.OPEN);
  });

  it('through a listener added in open, with the connection still open', async () => {
    const tracked: Array<WeakRef<ArrayBufferLike>> = [];
    const port = await start({
      open(ws: Connection) {
        ws.on('message', (data) => {
          track(tracked, data as Buffer);
          ws.send(data);
        });
      },
    });
    const client = await echoAll(port);
    expect(tracked).toHaveLength(MESSAGES);
    expect(await survivors(tracked)).toBe(0);
    // Collected while the connection is open, not by closing it.
    expect(client.readyState).toBe(WebSocket.OPEN);
  });

  it('through a for await loop, with the connection still open', async () => {
    const tracked: Array<WeakRef<ArrayBufferLike>> = [];
    const port = await start({
      async open(ws: Connection) {
        for await (const { data } of ws) {
          track(tracked, data as Buffer);
          ws.send(data);
        }
      },
    });
    const client = await echoAll(port, true);
    expect(tracked).toHaveLength(MESSAGES);
    expect(await survivors(tracked)).toBe(0);
    // Collected while the connection is open, not by closing it.
    expect(client.readyState).toBe(WebSocket.OPEN);
  });
});
