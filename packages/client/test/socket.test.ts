/**
 * The socket over the WebSocket transport: liveness, the send queue, reconnection rules,
 * closing, events. Against a real `ws` server (scripted-server.ts).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { CloseEvent, SwitchyardSocket, connect } from '../src/index.js';
import type { ConnectOptions, SocketMessageEvent, WebSocketConstructor } from '../src/index.js';
import { ScriptedServer } from './scripted-server.js';
import { openWebSocket } from '../src/websocket-transport.js';
import type { Ending } from '../src/transport.js';
import { delay, quietFor, until } from '../../../test/helpers.js';

const WS = WebSocket as unknown as WebSocketConstructor;

/** Records what a socket reports. */
function record(socket: SwitchyardSocket) {
  const log: string[] = [];
  const received: unknown[] = [];
  const closes: CloseEvent[] = [];
  socket.addEventListener('open', () => log.push(`open ${socket.readyState}`));
  socket.addEventListener('error', () => log.push('error'));
  socket.addEventListener('message', (event) =>
    received.push(typeof event.data === 'string' ? event.data : [...new Uint8Array(event.data)]),
  );
  socket.addEventListener('close', (event) => {
    log.push(`close ${event.code} ${socket.readyState}`);
    closes.push(event);
  });
  return { log, received, closes };
}

const quick = (extra: ConnectOptions = {}): ConnectOptions => ({
  WebSocket: WS,
  transports: ['websocket'],
  livenessTimeout: 300,
  reconnect: { initialDelay: 20, maxDelay: 50 },
  ...extra,
});

describe('liveness', () => {
  it('swallows the liveness frame and opens only after it', async () => {
    const server = await ScriptedServer.start();
    const socket = connect(server.url('/ep?x=1'), quick({ protocols: ['chat'] }));
    const { log, received } = record(socket);
    await until(() => log.length > 0, 'open');
    expect(log).toEqual(['open 1']);
    expect(socket.transport).toBe('websocket');
    expect(socket.protocol).toBe('chat');
    expect(server.connections[0]!.url).toBe('/ep?x=1&__sy=1');
    server.connections[0]!.ws.send('app');
    await until(() => received.length > 0, 'a message');
    expect(received).toEqual(['app']);
    socket.close();
  });

  it('without the liveness frame the attempt fails, after livenessTimeout', async () => {
    const server = await ScriptedServer.start();
    server.liveness = false;
    const started = Date.now();
    const socket = connect(server.url(), quick({ reconnect: false }));
    const { log, closes } = record(socket);
    await until(() => closes.length > 0, 'close', 2000);
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
    expect(log).toEqual(['error', 'close 1006 3']);
    expect(closes[0]!.reason).toBe('no liveness frame');
  });

  it('a server that sends an app frame first is alive too; the frame is delivered', async () => {
    const server = await ScriptedServer.start();
    server.liveness = false;
    const socket = connect(server.url(), quick());
    const { log, received } = record(socket);
    await until(() => server.connections.length > 0, 'a connection');
    server.connections[0]!.ws.send('first');
    await until(() => received.length > 0, 'a message');
    expect(log).toEqual(['open 1']);
    expect(received).toEqual(['first']);
    socket.close();
  });
});

describe('the send queue', () => {
  it('messages sent before open go out in order, copied at send()', async () => {
    const server = await ScriptedServer.start();
    const socket = connect(server.url(), quick());
    const buffer = new Uint8Array([1, 2, 3, 4]);
    socket.send('one');
    socket.send(buffer);
    socket.send(buffer.subarray(1, 3));
    socket.send(buffer.buffer);
    socket.send(new Blob(['blob']));
    socket.send(new DataView(buffer.buffer, 3, 1));
    buffer.fill(0);
    socket.send('last');
    const { log } = record(socket);
    await until(() => log.length > 0, 'open');
    socket.send('after open');
    await until(() => (server.connections[0]?.received.length ?? 0) >= 8, 'eight messages');
    expect(server.connections[0]!.received).toEqual([
      'one',
      'bytes:1,2,3,4',
      'bytes:2,3',
      'bytes:1,2,3,4',
      'bytes:98,108,111,98',
      'bytes:4',
      'last',
      'after open',
    ]);
    socket.close();
  });

  it('messages sent while reconnecting go out on the next connection, in order', async () => {
    const server = await ScriptedServer.start();
    // A fixed wait before the reconnect: with full jitter it can come within one poll of `until`,
    // and the socket would be open again before the test looks at it while it reconnects.
    const socket = connect(server.url(), quick({ reconnect: { initialDelay: 200, maxDelay: 200, jitter: 0 } }));
    const { log, closes } = record(socket);
    await until(() => log.length > 0, 'open');
    socket.send('a');
    await until(() => server.connections[0]!.received.length === 1, 'a');
    server.connections[0]!.ws.terminate();
    await until(() => closes.length > 0, 'close');
    expect(closes[0]).toMatchObject({ code: 1006, wasClean: false, willReconnect: true });
    expect(socket.readyState).toBe(SwitchyardSocket.CONNECTING);
    for (const m of ['b', 'c', 'd']) socket.send(m);
    await until(() => (server.connections[1]?.received.length ?? 0) === 3, 'b, c, d');
    expect(server.connections[1]!.received).toEqual(['b', 'c', 'd']);
    expect(log).toEqual(['open 1', 'close 1006 0', 'open 1']);
    socket.close();
  });

  it('send() refuses what is not a string or binary, and drops messages after close()', async () => {
    const server = await ScriptedServer.start();
    const socket = connect(server.url(), quick());
    expect(() => socket.send(42 as unknown as string)).toThrow(
      new TypeError('send() takes a string, an ArrayBuffer, an ArrayBufferView or a Blob'),
    );
    const { log } = record(socket);
    await until(() => log.length > 0, 'open');
    socket.close();
    socket.send('dropped');
    await until(() => log.length > 1, 'close');
    expect(server.connections[0]!.received).toEqual([]);
  });
});

describe('reconnection', () => {
  const rules: Array<[code: number, reconnects: boolean]> = [
    [1000, false],
    [1001, true],
    [1002, false],
    [1003, false],
    [1007, false],
    [1008, false],
    [1009, false],
    [1011, true],
    [1012, true],
    [1013, true],
    [1014, true],
    [4000, false],
    [4999, false],
  ];
  for (const [code, reconnects] of rules) {
    it(`a server close with ${code} ${reconnects ? 'reconnects' : 'is final'}`, async () => {
      const server = await ScriptedServer.start();
      const socket = connect(server.url(), quick());
      const { log, closes } = record(socket);
      await until(() => log.length > 0, 'open');
      server.connections[0]!.ws.close(code, 'why');
      await until(() => closes.length > 0, 'close');
      expect(closes[0]).toMatchObject({ code, reason: 'why', wasClean: true, willReconnect: reconnects });
      if (reconnects) {
        await until(() => log.length === 3, 'the second open');
        expect(log).toEqual(['open 1', `close ${code} 0`, 'open 1']);
      } else {
        // No reconnection may follow.
        await quietFor(100);
        expect(log).toEqual(['open 1', `close ${code} 3`]);
        expect(server.connections).toHaveLength(1);
      }
      socket.close();
    });
  }

  it('reconnect: false makes a dropped connection final', async () => {
    const server = await ScriptedServer.start();
    const socket = connect(server.url(), quick({ reconnect: false }));
    const { log } = record(socket);
    await until(() => log.length > 0, 'open');
    server.connections[0]!.ws.terminate();
    await until(() => log.length > 1, 'close');
    expect(log).toEqual(['open 1', 'close 1006 3']);
  });

  it('retries a refused connection with backoff, then gives up after maxRetries', async () => {
    const server = await ScriptedServer.start();
    const url = server.url();
    await server.close();
    const started = Date.now();
    const socket = connect(url, quick({ reconnect: { initialDelay: 50, factor: 3, jitter: 0, maxRetries: 2 } }));
    const { log } = record(socket);
    await until(() => log.at(-1)?.startsWith('close') === true, 'the final close');
    expect(log).toEqual(['error', 'error', 'error', 'close 1006 3']);
    // 50 ms, then 150 ms.
    expect(Date.now() - started).toBeGreaterThanOrEqual(200);
  });
});

describe('reconnection after a crash: refused attempts while the node restarts', () => {
  /** `ws`, counting the attempts (constructions) of each socket it serves. */
  function counting() {
    const attempts: number[] = [];
    class Counting extends WebSocket {
      constructor(url: string, protocols?: string | string[]) {
        super(url, protocols);
        attempts.push(Date.now());
      }
    }
    return { attempts, WebSocket: Counting as unknown as WebSocketConstructor };
  }

  it('a connection lost to a crash is back within initialDelay of the node listening again, not after a grown backoff', async () => {
    const server = await ScriptedServer.start();
    const N = 20;
    const sockets: SwitchyardSocket[] = [];
    const opens: number[][] = [];
    for (let i = 0; i < N; i++) {
      const socket = connect(server.url(), {
        WebSocket: WS,
        transports: ['websocket'],
        livenessTimeout: 1000,
        // Grown twice, a ceiling would be 10 s: far beyond what the test waits.
        reconnect: { initialDelay: 100, factor: 10 },
      });
      const mine: number[] = [];
      socket.addEventListener('open', () => mine.push(Date.now()));
      sockets.push(socket);
      opens.push(mine);
    }
    try {
      await until(() => opens.every((mine) => mine.length === 1), 'every first open');
      await server.crash();
      // Down for 1.5 s: every client has been refused many times over.
      await delay(1500);
      const back = Date.now();
      await server.listenAgain();
      await until(() => opens.every((mine) => mine.length === 2), 'every second open', 5000);
      const late = opens.map((mine) => mine[1]! - back);
      // Within the first ceiling (100 ms), plus a handshake on a loaded machine.
      expect(Math.max(...late)).toBeLessThan(800);
    } finally {
      for (const socket of sockets) socket.close();
    }
  });

  it('the refused retries stay below the first ceiling for `spread` ms only; then the backoff grows again', async () => {
    const server = await ScriptedServer.start();
    const N = 10;
    const counters = Array.from({ length: N }, counting);
    const sockets = counters.map((counter) =>
      connect(server.url(), {
        WebSocket: counter.WebSocket,
        transports: ['websocket'],
        livenessTimeout: 1000,
        reconnect: { initialDelay: 50, factor: 4, spread: 300 },
      }),
    );
    try {
      await until(() => sockets.every((socket) => socket.readyState === socket.OPEN), 'every open');
      const crashed = Date.now();
      await server.crash();
      await delay(2000);
      const during = counters.map(({ attempts }) => attempts.filter((at) => at > crashed));
      // Inside the window, about one attempt per 25 ms (full jitter below 50 ms), about 12; past
      // it, the ceilings grow (200, 800, 3,200 ms): a few more. A rule without the window would
      // make about 80 in 2 s.
      for (const mine of during) expect(mine.length).toBeLessThan(40);
      // Past the window, gaps beyond the first ceiling.
      const gaps = during.flatMap((mine) => mine.slice(1).map((at, i) => at - mine[i]!));
      expect(Math.max(...gaps)).toBeGreaterThan(150);
    } finally {
      for (const socket of sockets) socket.close();
    }
  });

  it('only an ECONNREFUSED before the 101 counts as refused, whatever else an error event carries (fast-check)', async () => {
    // A WebSocket class that reports one error event (of any shape), after or before its 101.
    const errorShape = fc.oneof(
      fc.constant(undefined),
      fc.constant(null),
      fc.record({ error: fc.oneof(fc.constant(undefined), fc.constant(null), fc.anything()) }),
      fc.record({ error: fc.record({ code: fc.oneof(fc.constant('ECONNREFUSED'), fc.string(), fc.anything()) }) }),
      fc.record({ message: fc.string(), error: fc.record({ code: fc.constant('ECONNREFUSED') }) }),
    );
    await fc.assert(
      fc.asyncProperty(errorShape, fc.boolean(), async (event, afterOpen) => {
        class Scripted {
          protocol = '';
          binaryType = 'blob';
          onopen: ((event: unknown) => void) | null = null;
          onmessage: ((event: unknown) => void) | null = null;
          onclose: ((event: unknown) => void) | null = null;
          onerror: ((event: unknown) => void) | null = null;
          constructor() {
            queueMicrotask(() => {
              if (afterOpen) this.onopen?.({});
              this.onerror?.(event);
              this.onclose?.({ code: 1006, reason: '', wasClean: false });
            });
          }
          send() {}
          close() {}
        }
        const ending = await new Promise<Ending>((resolve) => {
          openWebSocket(
            Scripted as unknown as WebSocketConstructor,
            'ws://127.0.0.1:9/',
            [],
            { handshake: 1000, liveness: 1000 },
            { open() {}, message() {}, end: resolve },
          );
        });
        const code = (event as { error?: { code?: unknown } } | null | undefined)?.error?.code;
        expect(ending.refused).toBe(code === 'ECONNREFUSED' && !afterOpen);
      }),
      { numRuns: 200 },
    );
  });
});

describe('closing', () => {
  it('close() while connecting gives up at once; the close event comes asynchronously', async () => {
    const server = await ScriptedServer.start();
    const socket = connect(server.url(), quick());
    const { log, closes } = record(socket);
    socket.send('queued');
    socket.close(4001, 'changed my mind');
    expect(socket.readyState).toBe(SwitchyardSocket.CLOSED);
    expect(log).toEqual([]);
    await until(() => closes.length > 0, 'close');
    expect(closes[0]).toMatchObject({ code: 4001, reason: 'changed my mind', wasClean: false, willReconnect: false });
    // No connection may open after close().
    await quietFor(100);
    expect(log).toEqual(['close 4001 3']);
    expect(server.connections.flatMap((c) => c.received)).toEqual([]);
  });

  it("close() arguments are checked like a WebSocket's", () => {
    const socket = connect('http://127.0.0.1:9/', {
      WebSocket: undefined,
      transports: ['sse'],
      fetch: () => new Promise(() => {}),
    });
    expect(() => socket.close(1001)).toThrow(new TypeError('close(): the code must be 1000 or from 3000 to 4999'));
    expect(() => socket.close(5000)).toThrow(new TypeError('close(): the code must be 1000 or from 3000 to 4999'));
    expect(() => socket.close(3000.5)).toThrow(new TypeError('close(): the code must be 1000 or from 3000 to 4999'));
    expect(() => socket.close(1000, 'é'.repeat(62))).toThrow(
      new TypeError('close(): the reason must be at most 123 bytes of UTF-8'),
    );
    socket.close(1000, `${'é'.repeat(61)}x`);
    expect(socket.readyState).toBe(SwitchyardSocket.CLOSED);
  });
});

describe('events', () => {
  it('on* handlers: one at a time, replaceable, removable, in order with listeners', async () => {
    const server = await ScriptedServer.start();
    const socket = connect(server.url(), quick());
    const calls: string[] = [];
    socket.addEventListener('message', () => calls.push('listener 1'));
    socket.onmessage = () => calls.push('first handler');
    socket.addEventListener('message', () => calls.push('listener 2'));
    const handler = (event: SocketMessageEvent): void => {
      calls.push(`handler ${String(event.data)}`);
    };
    socket.onmessage = handler;
    expect(socket.onmessage).toBe(handler);
    await new Promise<void>((resolve) => {
      socket.onopen = () => resolve();
    });
    server.connections[0]!.ws.send('x');
    await until(() => calls.length === 3, 'three calls');
    expect(calls).toEqual(['listener 1', 'handler x', 'listener 2']);
    socket.onmessage = null;
    expect(socket.onmessage).toBeNull();
    server.connections[0]!.ws.send('y');
    await until(() => calls.length === 5, 'two more calls');
    expect(calls.slice(3)).toEqual(['listener 1', 'listener 2']);
    socket.close();
  });

  it('readyState constants, url, and the CloseEvent class', () => {
    const socket = connect('ws://127.0.0.1:9/chat', {
      WebSocket: undefined,
      transports: ['sse'],
      fetch: () => new Promise(() => {}),
    });
    expect([
      SwitchyardSocket.CONNECTING,
      SwitchyardSocket.OPEN,
      SwitchyardSocket.CLOSING,
      SwitchyardSocket.CLOSED,
    ]).toEqual([0, 1, 2, 3]);
    expect([socket.CONNECTING, socket.OPEN, socket.CLOSING, socket.CLOSED]).toEqual([0, 1, 2, 3]);
    expect(socket.url).toBe('ws://127.0.0.1:9/chat');
    expect(socket.readyState).toBe(0);
    expect(socket.transport).toBe('sse');
    socket.close();
    const event = new CloseEvent('close', { code: 1000, reason: 'r', wasClean: true });
    expect(event).toBeInstanceOf(Event);
    expect([event.type, event.code, event.reason, event.wasClean, event.willReconnect]).toEqual([
      'close',
      1000,
      'r',
      true,
      false,
    ]);
  });
});
