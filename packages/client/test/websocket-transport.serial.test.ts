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

/** `ws`, counting the dials (constructions) of an attempt, and when each started. */
function countingWs() {
  const dials: number[] = [];
  class Counting extends WebSocket {
    constructor(url: string, protocols?: string | string[]) {
      super(url, protocols);
      dials.push(Date.now());
    }
  }
  return { dials, WebSocket: Counting as unknown as WebSocketConstructor };
}

describe('the WebSocket transport: redialling a connection that does not come up', () => {
  it('ws: a dial with no connection is dropped and dialled afresh on the redial schedule, until connect', async () => {
    const { dials, WebSocket: Counting } = countingWs();
    const asked: number[] = [];
    const redial = (dial: number): number => {
      asked.push(dial);
      return 400;
    };
    const { ending, ms } = await attempt(Counting, hung, { connect: 1800, handshake: 5000, liveness: 300, redial });
    // Dials at 0, 400, 800, 1200 and 1600 ms; the fifth's wait runs past connect, which ends it.
    expect(ending).toMatchObject({ reason: 'no connection', opened: false, fatal: false });
    expect(ms).toBeGreaterThanOrEqual(1790);
    expect(ms).toBeLessThan(2800);
    expect(dials).toHaveLength(5);
    expect(asked).toEqual([0, 1, 2, 3, 4]);
    for (let k = 1; k < dials.length; k++) expect(dials[k]! - dials[k - 1]!).toBeGreaterThanOrEqual(390);
  });

  it('ws: a connection that is up is never redialled: one dial waits for the 101 until handshake', async () => {
    const { dials, WebSocket: Counting } = countingWs();
    const { ending, ms } = await attempt(Counting, await silent(), { ...TIMEOUTS, redial: () => 100 });
    expect(ending).toMatchObject({ reason: 'no handshake', opened: false });
    expect(ms).toBeGreaterThanOrEqual(1490);
    expect(dials).toHaveLength(1);
  });

  it('a connection seen coming up in the turn its redial fell due is kept, not dropped', async () => {
    // A stand-in for ws whose TCP connection the test brings up: at the very moment the redial
    // falls due (a timer of the same delay, set after the transport's). On a busy process the
    // connection's completion and the redial's timer are due in the same turn of the loop.
    const dials: Array<{ tcp: EventEmitter & { connecting: boolean }; closed: boolean }> = [];
    class Fake {
      protocol = '';
      binaryType = 'blob';
      onopen = null;
      onmessage = null;
      onclose = null;
      onerror = null;
      readonly _req = new EventEmitter();
      constructor() {
        const dial = { tcp: Object.assign(new EventEmitter(), { connecting: true }), closed: false };
        dials.push(dial);
        queueMicrotask(() => this._req.emit('socket', dial.tcp));
        this.close = () => {
          dial.closed = true;
        };
      }
      send(): void {}
      close(): void {}
    }
    const endings: Ending[] = [];
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    try {
      openWebSocket(
        Fake as unknown as WebSocketConstructor,
        'ws://127.0.0.1:1/',
        [],
        { connect: 5000, handshake: 400, liveness: 300, redial: () => 50 },
        { open: () => {}, message: () => {}, end: (ending) => endings.push(ending) },
      );
      await Promise.resolve(); // the 'socket' event
      // The redial falls due: the timers' phase of a turn whose I/O phase brings the connection.
      vi.advanceTimersToNextTimer();
      expect(dials).toHaveLength(1);
      expect(dials[0]!.closed).toBe(false);
      dials[0]!.tcp.connecting = false;
      dials[0]!.tcp.emit('connect');
      vi.advanceTimersByTime(1000);
    } finally {
      vi.useRealTimers();
    }
    // Kept: its handshake ran out (400 ms), nothing was redialled or dropped.
    expect(endings).toHaveLength(1);
    expect(endings[0]!.reason).toBe('no handshake');
    expect(dials).toHaveLength(1);
  });

  it('a connection up in the kernel (getpeername succeeds) but not yet seen by the loop is kept, not dropped', () => {
    // A process too busy to have run the connection's completion: Node's `connecting` is still
    // true, but libuv's handle answers getpeername(2), so the redial and the end of `connect`
    // both leave it be.
    const dials: Array<{ closed: boolean }> = [];
    const peer = { up: false };
    class Fake {
      protocol = '';
      binaryType = 'blob';
      onopen = null;
      onmessage = null;
      onclose = null;
      onerror = null;
      readonly _req = new EventEmitter();
      constructor() {
        const dial = { closed: false };
        dials.push(dial);
        const tcp = Object.assign(new EventEmitter(), {
          connecting: true,
          _handle: { getpeername: () => (peer.up ? 0 : -107) },
        });
        queueMicrotask(() => this._req.emit('socket', tcp));
        this.close = () => {
          dial.closed = true;
        };
      }
      send(): void {}
      close(): void {}
    }
    const endings: Ending[] = [];
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    return (async () => {
      try {
        openWebSocket(
          Fake as unknown as WebSocketConstructor,
          'ws://127.0.0.1:1/',
          [],
          { connect: 300, handshake: 2000, liveness: 300, redial: () => 100 },
          { open: () => {}, message: () => {}, end: (ending) => endings.push(ending) },
        );
        await Promise.resolve();
        // ENOTCONN at 100 ms: dropped and redialled.
        vi.advanceTimersByTime(101);
        await Promise.resolve();
        expect(dials).toHaveLength(2);
        expect(dials[0]!.closed).toBe(true);
        // Up in the kernel by the second's 100 ms: kept, past `connect` (300) until `handshake`.
        peer.up = true;
        vi.advanceTimersByTime(1000);
        expect(dials).toHaveLength(2);
        expect(dials[1]!.closed).toBe(false);
        expect(endings).toHaveLength(0);
        vi.advanceTimersByTime(1000);
      } finally {
        vi.useRealTimers();
      }
      expect(endings).toHaveLength(1);
      expect(endings[0]!.reason).toBe('no handshake');
      expect(dials).toHaveLength(2);
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

  it('a dropped dial reports nothing: its close and error are not the attempt', async () => {
    const { dials, WebSocket: Counting } = countingWs();
    const endings: Ending[] = [];
    openWebSocket(
      Counting,
      `ws://127.0.0.1:${hung}/`,
      [],
      { connect: 1000, handshake: 5000, liveness: 300, redial: () => 150 },
      {
        open: () => endings.push({} as Ending),
        message: () => {},
        end: (ending) => endings.push(ending),
      },
    );
    await vi.waitFor(() => expect(endings).toHaveLength(1), { timeout: 3000 });
    await delay(300);
    expect(endings).toHaveLength(1);
    expect(endings[0]!.reason).toBe('no connection');
    expect(dials.length).toBeGreaterThanOrEqual(5);
  });

  it("undici (as a browser's): nothing is seen before the 101, so it is never redialled", async () => {
    let dials = 0;
    class Counting extends UndiciWebSocket {
      constructor(url: string, protocols?: string | string[]) {
        super(url, protocols);
        dials++;
      }
    }
    const { ending, ms } = await attempt(Counting as unknown as WebSocketConstructor, hung, {
      ...TIMEOUTS,
      redial: () => 100,
    });
    expect(ending.reason).toBe('no handshake');
    expect(ms).toBeGreaterThanOrEqual(1490);
    expect(dials).toBe(1);
  });

  it('a redial to a port that now refuses ends the attempt as refused, at once', async () => {
    // A listener that closes after the first dial: the second dial meets ECONNREFUSED.
    const { dials, WebSocket: Counting } = countingWs();
    const port = hung;
    let redirected = 0;
    const freePort = await new Promise<number>((resolve) => {
      const probe = net.createServer();
      probe.listen(0, '127.0.0.1', () => {
        const { port: free } = probe.address() as AddressInfo;
        probe.close(() => resolve(free));
      });
    });
    class Redirect extends (Counting as unknown as typeof WebSocket) {
      constructor(url: string, protocols?: string | string[]) {
        super(redirected++ === 0 ? url : url.replace(`:${port}/`, `:${freePort}/`), protocols);
      }
    }
    const { ending, ms } = await attempt(Redirect as unknown as WebSocketConstructor, port, {
      connect: 5000,
      handshake: 8000,
      liveness: 300,
      redial: () => 300,
    });
    expect(ending).toMatchObject({ opened: false, refused: true });
    expect(ms).toBeLessThan(1500);
    expect(dials).toHaveLength(2);
  });
});
