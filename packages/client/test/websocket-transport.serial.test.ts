/**
 * The WebSocket transport's timeouts on real sockets: where the TCP connection can be seen (`ws`),
 * an attempt whose connection never comes up is abandoned at `connect`, and one whose connection is
 * up waits for the 101 until `handshake`; where it can't (undici, as a browser's), `handshake`
 * alone applies. A listener whose accept queue is full (a python process that never accepts, the
 * listen backlog of a node that many clients reach at once) drops SYNs: the connection hangs.
 */
import { spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import type { ChildProcess } from 'node:child_process';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { WebSocket as UndiciWebSocket } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { setTimeout as delay } from 'node:timers/promises';
import WebSocket from 'ws';
import type { Ending } from '../src/transport.js';
import { openWebSocket } from '../src/websocket-transport.js';
import type { WebSocketConstructor, WebSocketTimeouts } from '../src/websocket-transport.js';

const WS = WebSocket as unknown as WebSocketConstructor;
const UNDICI = UndiciWebSocket as unknown as WebSocketConstructor;
const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});
/** Held for the whole file: starting python takes seconds on a loaded machine. */
const held: Array<() => void> = [];
let hung: number;
beforeAll(async () => {
  hung = await fullBacklog();
});
afterAll(() => {
  for (const cleanup of held.splice(0)) cleanup();
});

/** A port whose accept queue is full: a new connection's SYN is dropped, so it never comes up. */
async function fullBacklog(): Promise<number> {
  const child: ChildProcess = spawn('python3', [
    '-c',
    "import socket,time\ns=socket.socket()\ns.bind(('127.0.0.1',0))\ns.listen(0)\nprint(s.getsockname()[1],flush=True)\ntime.sleep(60)",
  ]);
  held.push(() => child.kill('SIGKILL'));
  const port = await new Promise<number>((resolve) =>
    child.stdout!.once('data', (data) => resolve(Number(String(data)))),
  );
  // Fill the queue until a connection hangs.
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

/** A port that accepts the TCP connection and never answers the request. */
async function silent(): Promise<number> {
  const server = net.createServer(() => {});
  const sockets = new Set<net.Socket>();
  server.on('connection', (socket) => sockets.add(socket));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => {
    for (const socket of sockets) socket.destroy();
    server.close();
  });
  return (server.address() as AddressInfo).port;
}

/** Opens a WebSocket to `port` and resolves with how it ended, and after how long. */
function attempt(WebSocketClass: WebSocketConstructor, port: number, timeouts: WebSocketTimeouts) {
  const started = Date.now();
  return new Promise<{ ending: Ending; ms: number }>((resolve, reject) => {
    openWebSocket(WebSocketClass, `ws://127.0.0.1:${port}/`, [], timeouts, {
      open: () => reject(new Error('opened')),
      message: () => {},
      end: (ending) => resolve({ ending, ms: Date.now() - started }),
    });
  });
}

const TIMEOUTS = { connect: 300, handshake: 1500, liveness: 300 };

describe('the WebSocket transport: no TCP connection, or no 101 on one', () => {
  it('ws: a connection that does not come up is abandoned at connect', async () => {
    const { ending, ms } = await attempt(WS, hung, TIMEOUTS);
    expect(ending).toMatchObject({ reason: 'no connection', opened: false, fatal: false });
    expect(ms).toBeGreaterThanOrEqual(290);
    expect(ms).toBeLessThan(1300);
  });

  it('ws: a connection that is up waits for the 101 until handshake, not connect', async () => {
    const { ending, ms } = await attempt(WS, await silent(), TIMEOUTS);
    expect(ending).toMatchObject({ reason: 'no handshake', opened: false });
    expect(ms).toBeGreaterThanOrEqual(1490);
  });

  it("undici (as a browser's): nothing is seen before the 101, so handshake alone applies, up or not", async () => {
    const down = await attempt(UNDICI, hung, TIMEOUTS);
    expect(down.ending.reason).toBe('no handshake');
    expect(down.ms).toBeGreaterThanOrEqual(1490);
    const up = await attempt(UNDICI, await silent(), TIMEOUTS);
    expect(up.ending.reason).toBe('no handshake');
    expect(up.ms).toBeGreaterThanOrEqual(1490);
  });

  it('without connect (a first contact), handshake alone applies, with ws too', async () => {
    const { ending, ms } = await attempt(WS, hung, { handshake: 600, liveness: 300 });
    expect(ending.reason).toBe('no handshake');
    expect(ms).toBeGreaterThanOrEqual(590);
  });
});

describe('the WebSocket transport: a connection up in the kernel, not yet seen by a busy process', () => {
  it('is not given up at connect: getpeername says it is up, so only handshake applies', () => {
    // A process too busy to have run the connection's completion: Node's `connecting` is still
    // true and no 'connect' came, but libuv's handle answers getpeername(2).
    const peer = { up: false };
    let closed = 0;
    class Fake {
      protocol = '';
      binaryType = 'blob';
      onopen = null;
      onmessage = null;
      onclose = null;
      onerror = null;
      readonly _req = new EventEmitter();
      constructor() {
        const tcp = Object.assign(new EventEmitter(), {
          connecting: true,
          _handle: { getpeername: () => (peer.up ? 0 : -107) },
        });
        queueMicrotask(() => this._req.emit('socket', tcp));
      }
      send(): void {}
      close(): void {
        closed++;
      }
    }
    const open = (): Ending[] => {
      const endings: Ending[] = [];
      openWebSocket(
        Fake as unknown as WebSocketConstructor,
        'ws://127.0.0.1:1/',
        [],
        { connect: 300, handshake: 2000, liveness: 300 },
        { open: () => {}, message: () => {}, end: (ending) => endings.push(ending) },
      );
      return endings;
    };
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    return (async () => {
      try {
        // ENOTCONN at connect (300 ms): given up.
        const down = open();
        await Promise.resolve();
        vi.advanceTimersByTime(301);
        expect(down).toHaveLength(1);
        expect(down[0]!.reason).toBe('no connection');
        expect(closed).toBe(1);
        // Up in the kernel by then: kept past connect, until handshake (2000 ms).
        peer.up = true;
        const up = open();
        await Promise.resolve();
        vi.advanceTimersByTime(1000);
        expect(up).toHaveLength(0);
        expect(closed).toBe(1);
        vi.advanceTimersByTime(1000);
        expect(up).toHaveLength(1);
        expect(up[0]!.reason).toBe('no handshake');
      } finally {
        vi.useRealTimers();
      }
    })();
  });

  it('ws: the real handle answers getpeername, as the kernel sees the connection', async () => {
    // The private API the redial leans on: if a Node version drops it, this test says so (and
    // the redial falls back to what the event loop has seen).
    const port = await silent();
    const tcp = net.connect(port, '127.0.0.1');
    cleanups.push(() => tcp.destroy());
    const handle = (tcp as unknown as { _handle: { getpeername(out: object): number } })._handle;
    await new Promise((resolve) => tcp.once('connect', resolve));
    const out: { port?: number } = {};
    expect(handle.getpeername(out)).toBe(0);
    expect(out.port).toBe(port);
    const waiting = net.connect(hung, '127.0.0.1');
    cleanups.push(() => waiting.destroy());
    await delay(100);
    expect(waiting.connecting).toBe(true);
    expect(
      (waiting as unknown as { _handle: { getpeername(out: object): number } })._handle.getpeername({}),
    ).toBeLessThan(0);
  });
});
