/**
 * A reconnect to a node whose listen queue is full (its SYNs dropped, as while every client of
 * a node comes back at once) keeps its attempt past the kernel's SYN retransmissions, 7.5 s,
 * instead of giving it up at `livenessTimeout` and starting over with a longer backoff. The
 * first connection of a socket still gives up at `livenessTimeout` (the fallback needs to know
 * soon); only a transport that worked before waits.
 */
import { spawn } from 'node:child_process';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { connect } from '../src/index.js';
import type { WebSocketConstructor } from '../src/index.js';
import { ScriptedServer } from './scripted-server.js';
import { delay, until } from '../../../test/helpers.js';

const held: Array<() => void> = [];
let hung: number;

/** A port whose accept queue is full: a new connection's SYN is dropped, so it never comes up. */
async function fullBacklog(): Promise<number> {
  const child = spawn('python3', [
    '-c',
    "import socket,time\ns=socket.socket()\ns.bind(('127.0.0.1',0))\ns.listen(0)\nprint(s.getsockname()[1],flush=True)\ntime.sleep(60)",
  ]);
  held.push(() => child.kill('SIGKILL'));
  const port = await new Promise<number>((resolve) =>
    child.stdout.once('data', (data) => resolve(Number(String(data)))),
  );
  for (;;) {
    const filler = net.connect(port, '127.0.0.1');
    held.push(() => filler.destroy());
    const up = await new Promise<boolean>((resolve) => {
      filler.once('connect', () => resolve(true));
      setTimeout(() => resolve(false), 300);
    });
    if (!up) return port;
  }
}

beforeAll(async () => {
  hung = await fullBacklog();
});
afterAll(() => {
  for (const cleanup of held.splice(0)) cleanup();
});

/** `ws`, whose attempts after the first go to the full port; their start times, counted. */
function redirecting(from: number) {
  const attempts: number[] = [];
  class Redirect extends WebSocket {
    constructor(url: string, protocols?: string | string[]) {
      super(attempts.length === 0 ? url : url.replace(`:${from}/`, `:${hung}/`), protocols);
      attempts.push(Date.now());
    }
  }
  return { attempts, WebSocket: Redirect as unknown as WebSocketConstructor };
}

describe('a reconnect whose SYNs are dropped', () => {
  it('waits for its connection past the SYN retransmissions, not livenessTimeout: one attempt in 3 s', async () => {
    const server = await ScriptedServer.start();
    const { attempts, WebSocket: Redirect } = redirecting(server.port);
    const socket = connect(server.url(), {
      WebSocket: Redirect,
      transports: ['websocket'],
      livenessTimeout: 300,
      reconnect: { initialDelay: 50, maxDelay: 100 },
    });
    try {
      await until(() => socket.readyState === socket.OPEN, 'open');
      const dropped = Date.now();
      server.connections[0]!.ws.terminate();
      await delay(3000);
      const after = attempts.filter((at) => at > dropped);
      // Given up at 300 ms, with at most 100 ms between: about eight.
      expect(after).toHaveLength(1);
    } finally {
      socket.close();
    }
  });

  it('a first connection still gives up at livenessTimeout', async () => {
    const attempts: number[] = [];
    class Counting extends WebSocket {
      constructor(url: string, protocols?: string | string[]) {
        super(url, protocols);
        attempts.push(Date.now());
      }
    }
    const socket = connect(`http://127.0.0.1:${hung}/`, {
      WebSocket: Counting as unknown as WebSocketConstructor,
      transports: ['websocket'],
      livenessTimeout: 300,
      reconnect: { initialDelay: 50, maxDelay: 100 },
    });
    try {
      await delay(2000);
      expect(attempts.length).toBeGreaterThanOrEqual(3);
    } finally {
      socket.close();
    }
  });
});
