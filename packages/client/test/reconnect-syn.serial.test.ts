/**
 * A reconnect to a node whose listen queue is full (its SYNs dropped, as while every client of
 * a node comes back at once) is not given up at `livenessTimeout` and retried with a longer
 * backoff: its attempt keeps going for 7.5 s, redialling a connection that does not come up about
 * once a second (uniform 0.75 to 1.5 s, a quarter longer each time) instead of waiting for the
 * kernel's SYN retransmissions at 1, 3 and 7 s. The first connection of a socket still gives up at
 * `livenessTimeout` (the fallback needs to know soon); only a transport that worked before waits.
 */
import { spawn } from 'node:child_process';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
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
  it("redials about once a second, not at livenessTimeout nor the kernel's 1, 3, 7 s, and reports no error", async () => {
    const server = await ScriptedServer.start();
    const { attempts, WebSocket: Redirect } = redirecting(server.port);
    const socket = connect(server.url(), {
      WebSocket: Redirect,
      transports: ['websocket'],
      livenessTimeout: 300,
      reconnect: { initialDelay: 50, maxDelay: 100 },
    });
    let errors = 0;
    socket.addEventListener('error', () => errors++);
    try {
      await until(() => socket.readyState === socket.OPEN, 'open');
      const dropped = Date.now();
      server.connections[0]!.ws.terminate();
      await delay(3500);
      const after = attempts.filter((at) => at > dropped);
      // Given up at 300 ms, with at most 100 ms between: about ten. Left to the kernel: one.
      // Redialled at 0.75 to 1.5 s, then 0.94 to 1.9 s, then 1.1 to 2.25 s: three or four.
      expect(after.length).toBeGreaterThanOrEqual(3);
      expect(after.length).toBeLessThanOrEqual(5);
      for (let k = 1; k < after.length; k++) {
        expect(after[k]! - after[k - 1]!).toBeGreaterThanOrEqual(740);
        expect(after[k]! - after[k - 1]!).toBeLessThan(2600);
      }
      // One attempt, its dials unseen by the app: no error, and no backoff grown.
      expect(errors).toBe(0);
      expect(socket.readyState).toBe(socket.CONNECTING);
    } finally {
      socket.close();
    }
  });

  it('after 7.5 s of redials the attempt is given up (an error), and the backoff takes over', async () => {
    const server = await ScriptedServer.start();
    const { attempts, WebSocket: Redirect } = redirecting(server.port);
    const socket = connect(server.url(), {
      WebSocket: Redirect,
      transports: ['websocket'],
      livenessTimeout: 300,
      reconnect: { initialDelay: 50, maxDelay: 100 },
    });
    const errors: number[] = [];
    socket.addEventListener('error', () => errors.push(Date.now()));
    try {
      await until(() => socket.readyState === socket.OPEN, 'open');
      const dropped = Date.now();
      server.connections[0]!.ws.terminate();
      await vi.waitFor(() => expect(errors).toHaveLength(1), { timeout: 10_000, interval: 50 });
      expect(errors[0]! - dropped).toBeGreaterThanOrEqual(7400);
      const dials = attempts.filter((at) => at > dropped && at <= errors[0]!);
      // Dials of 0.75 to 1.5 s, a quarter longer each: at least four and at most eight in 7.5 s.
      expect(dials.length).toBeGreaterThanOrEqual(4);
      expect(dials.length).toBeLessThanOrEqual(8);
    } finally {
      socket.close();
    }
  }, 15_000);

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
