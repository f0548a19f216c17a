/**
 * Independent client implementations against every adapter: Debian's python3-websockets (with
 * permessage-deflate on and off), faye-websocket's Node client, and undici's WebSocket. Each runs
 * the same scenarios: echo, subprotocols, close codes, large messages, compression, and pings.
 *
 *   runClients(expressHarness);
 */
import { spawn } from 'node:child_process';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket as UndiciWebSocket, ping as undiciPing } from 'undici';
import Faye from 'faye-websocket';
import type { Handlers } from '@switchyard/core';
import { CloseCode } from '@switchyard/core';
import type { Harness, Started } from '../harness.js';
import { start } from '../harness.js';
import { AsyncQueue, recordingEcho, requireAssertions } from '../helpers.js';

/** One received message, whatever the client library calls it. */
interface Message {
  data: Buffer;
  binary: boolean;
}

/** A connected client, the same shape over every library. */
interface Peer {
  readonly protocol: string;
  /** The Sec-WebSocket-Extensions the client accepted, or ''. */
  readonly extensions: string;
  send(data: string | Buffer): void;
  next(timeout?: number): Promise<Message>;
  /** Resolves once the pong is back (undici exposes no pong: it resolves once the ping is sent). */
  ping(data: string): Promise<void>;
  close(code: number, reason: string): void;
  readonly closed: Promise<{ code: number; reason: string }>;
  destroy(): void;
}

/** Why a handshake failed; `status` when the library tells it. */
class HandshakeFailed extends Error {
  constructor(
    readonly status: number | undefined,
    detail: string,
  ) {
    super(`handshake failed${status === undefined ? '' : ` with ${status}`}: ${detail}`);
  }
}

/** Why `next()` fails once the connection closed. */
const closedWith = (code: number, reason: string): Error =>
  new Error(`no message: the connection closed with ${code} ${reason}`.trim());

interface ClientKind {
  name: string;
  /** Whether the client offers permessage-deflate. */
  deflate: boolean;
  connect(url: string, protocols: string[]): Promise<Peer>;
}

/**
 * Debian's python3-websockets lives in Debian's interpreter. A `python3` earlier on PATH (pyenv,
 * a venv) would not see it, so the system one is preferred.
 */
const PYTHON = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
const PYTHON_CLIENT = fileURLToPath(new URL('./ws_client.py', import.meta.url));

function pythonClient(compression: boolean): ClientKind {
  return {
    name: `python3-websockets (compression ${compression ? 'on' : 'off'})`,
    deflate: compression,
    connect(url, protocols) {
      const args = [
        PYTHON_CLIENT,
        url,
        '--compression',
        compression ? 'deflate' : 'none',
        '--max-size',
        String(4 * 1024 * 1024),
      ];
      for (const protocol of protocols) args.push('--protocol', protocol);
      const child: ChildProcessWithoutNullStreams = spawn(PYTHON, args, { stdio: ['pipe', 'pipe', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => {
        stderr += d.toString();
      });
      const messages = new AsyncQueue<Message>('message');
      const pongs = new Map<string, () => void>();
      let resolveClosed!: (event: { code: number; reason: string }) => void;
      const closed = new Promise<{ code: number; reason: string }>((resolve) => {
        resolveClosed = resolve;
      });
      const command = (fields: Record<string, unknown>): void => {
        child.stdin.write(`${JSON.stringify(fields)}\n`);
      };
      return new Promise<Peer>((resolve, reject) => {
        child.on('exit', (code) => reject(new Error(`python client exited (${code}) before opening: ${stderr}`)));
        child.stdin.on('error', () => {});
        createInterface({ input: child.stdout }).on('line', (line) => {
          const event = JSON.parse(line) as Record<string, any>;
          if (event.event === 'open') {
            resolve({
              protocol: event.protocol,
              extensions: event.extensions,
              send: (data) =>
                command(
                  typeof data === 'string'
                    ? { op: 'send', text: data }
                    : { op: 'send', binary: data.toString('base64') },
                ),
              next: (timeout) => messages.next(timeout ?? 5000),
              ping: (data) =>
                new Promise<void>((done) => {
                  pongs.set(data, done);
                  command({ op: 'ping', data });
                }),
              close: (code, reason) => command({ op: 'close', code, reason }),
              closed,
              destroy: () => child.kill(),
            });
          } else if (event.event === 'rejected') {
            reject(new HandshakeFailed(event.status ?? undefined, event.error));
          } else if (event.event === 'message') {
            messages.push({ data: Buffer.from(event.data, 'base64'), binary: event.binary });
          } else if (event.event === 'pong') {
            pongs.get(event.data)?.();
          } else if (event.event === 'close') {
            messages.end(closedWith(event.code, event.reason));
            resolveClosed({ code: event.code, reason: event.reason });
          }
        });
      });
    },
  };
}

interface FayeClient {
  protocol: string;
  statusCode?: number;
  headers?: Record<string, string>;
  on(event: string, listener: (event: any) => void): void;
  send(data: string | Buffer): boolean;
  ping(message: string, callback: () => void): boolean;
  close(code?: number, reason?: string): void;
}

/** faye-websocket's client. `ping` is its option: seconds between the pings it sends by itself. */
function fayeClient(options: { ping?: number } = {}): ClientKind {
  return {
    name: 'faye-websocket',
    deflate: false,
    connect(url, protocols) {
      const faye = new Faye.Client(url, protocols, options) as unknown as FayeClient;
      const messages = new AsyncQueue<Message>('message');
      const closed = new Promise<{ code: number; reason: string }>((resolve) => {
        faye.on('close', (event: { code: number; reason: string }) => {
          messages.end(closedWith(event.code, event.reason));
          resolve({ code: event.code, reason: event.reason });
        });
      });
      return new Promise<Peer>((resolve, reject) => {
        faye.on('message', (event: { data: string | Buffer }) => {
          messages.push(
            typeof event.data === 'string'
              ? { data: Buffer.from(event.data), binary: false }
              : { data: event.data, binary: true },
          );
        });
        faye.on('error', (event: { message: string }) => reject(new HandshakeFailed(faye.statusCode, event.message)));
        faye.on('open', () =>
          resolve({
            protocol: faye.protocol,
            extensions: faye.headers?.['sec-websocket-extensions'] ?? '',
            send: (data) => {
              faye.send(data);
            },
            next: (timeout) => messages.next(timeout ?? 5000),
            ping: (data) =>
              new Promise<void>((done) => {
                faye.ping(data, done);
              }),
            close: (code, reason) => faye.close(code, reason),
            closed,
            destroy: () => faye.close(),
          }),
        );
      });
    },
  };
}

const undiciClient: ClientKind = {
  name: "undici's WebSocket",
  deflate: true,
  connect(url, protocols) {
    const ws = new UndiciWebSocket(url, protocols);
    ws.binaryType = 'arraybuffer';
    const messages = new AsyncQueue<Message>('message');
    ws.addEventListener('message', (event) => {
      const data = event.data as string | ArrayBuffer;
      messages.push(
        typeof data === 'string'
          ? { data: Buffer.from(data), binary: false }
          : { data: Buffer.from(data), binary: true },
      );
    });
    const closed = new Promise<{ code: number; reason: string }>((resolve) => {
      ws.addEventListener('close', (event) => {
        messages.end(closedWith(event.code, event.reason));
        resolve({ code: event.code, reason: event.reason });
      });
    });
    return new Promise<Peer>((resolve, reject) => {
      // The WHATWG API hides the HTTP status of a failed handshake, on purpose.
      ws.addEventListener('error', () => reject(new HandshakeFailed(undefined, 'error event before open')));
      ws.addEventListener('open', () =>
        resolve({
          protocol: ws.protocol,
          extensions: ws.extensions,
          send: (data) => ws.send(data),
          next: (timeout) => messages.next(timeout ?? 5000),
          ping: async (data) => {
            undiciPing(ws, Buffer.from(data));
          },
          close: (code, reason) => ws.close(code, reason),
          closed,
          destroy: () => ws.close(),
        }),
      );
    });
  },
};

/**
 * {@link recordingEcho} with compression on, so that a client that offers permessage-deflate runs
 * every scenario compressed, and one that doesn't runs it plain.
 */
const compressedEcho = (options: Handlers<undefined> = {}): ReturnType<typeof recordingEcho> =>
  recordingEcho({ compression: true, ...options });

const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

export function runClients(harness: Harness): void {
  describe(`${harness.name}: independent clients`, () => {
    requireAssertions();
    const running: Started[] = [];
    const peers: Peer[] = [];
    const serve = async (handlers: Handlers<undefined>): Promise<Started> => {
      const started = await start(harness, [{ path: '/ws', handlers }]);
      running.push(started);
      return started;
    };
    afterEach(async () => {
      for (const peer of peers.splice(0)) peer.destroy();
      await Promise.all(running.splice(0).map((s) => s.close()));
    });

    const kinds = [pythonClient(false), pythonClient(true), fayeClient(), undiciClient];
    for (const kind of kinds) {
      describe(kind.name, () => {
        const connect = async (s: Started, protocols: string[] = []): Promise<Peer> => {
          const peer = await kind.connect(s.url('/ws'), protocols);
          peers.push(peer);
          return peer;
        };

        it('echo: text with non-ASCII characters and binary come back intact, with their types', async () => {
          const { handlers, seen } = compressedEcho();
          const peer = await connect(await serve(handlers));
          const text = 'héllo wörld ✓ 🚀';
          const binary = Buffer.from([0, 1, 2, 0x7f, 0x80, 0xfe, 0xff]);
          peer.send(text);
          peer.send(binary);
          const [first, second] = [await peer.next(), await peer.next()];
          expect(first).toEqual({ data: Buffer.from(text), binary: false });
          expect(second).toEqual({ data: binary, binary: true });
          expect(seen.messages).toEqual([
            { length: text.length, isBinary: false },
            { length: binary.length, isBinary: true },
          ]);
        });

        it("subprotocol: an offer of ['soap', 'chat'] gets chat on both sides; an offer of ['soap'] alone is refused", async () => {
          const { handlers, seen } = compressedEcho({ protocols: ['chat'] });
          const s = await serve(handlers);
          const peer = await connect(s, ['soap', 'chat']);
          expect(peer.protocol).toBe('chat');
          await expect.poll(() => seen.opens.map((o) => o.protocol)).toEqual(['chat']);
          const refused = await kind.connect(s.url('/ws'), ['soap']).then(
            (p) => {
              peers.push(p);
              return p;
            },
            (error: unknown) => error,
          );
          expect(refused).toBeInstanceOf(HandshakeFailed);
          if (kind !== undiciClient) expect((refused as HandshakeFailed).status).toBe(400);
          expect(seen.opens).toHaveLength(1);
        });

        it('close codes: the client closes with 4000, the server closes with 4001; both sides see code and reason', async () => {
          const { handlers, seen } = compressedEcho();
          const s = await serve(handlers);
          const byClient = await connect(s);
          byClient.close(4000, 'client says bye');
          expect(await byClient.closed).toEqual({ code: 4000, reason: 'client says bye' });
          await expect.poll(() => seen.closes).toEqual([{ code: 4000, reason: 'client says bye', wasClean: true }]);

          const byServer = await connect(s);
          byServer.send('close me 4001 server says bye');
          expect(await byServer.closed).toEqual({ code: 4001, reason: 'server says bye' });
          await expect.poll(() => seen.closes).toHaveLength(2);
          expect(seen.closes[1]).toMatchObject({ code: 4001, wasClean: true });
        });

        it('large messages: 1 MiB minus 64 bytes of text and of random binary round-trip intact under maxPayload 1 MiB', async () => {
          const { handlers, seen } = compressedEcho({ maxPayload: 1024 * 1024 });
          const peer = await connect(await serve(handlers));
          const size = 1024 * 1024 - 64;
          const text = Array.from({ length: size / 16 }, (_, i) => `line ${String(i).padStart(11, '0')}`).join('');
          expect(text.length).toBe(size);
          const binary = randomBytes(size);
          peer.send(text);
          peer.send(binary);
          const echoedText = await peer.next(15_000);
          const echoedBinary = await peer.next(15_000);
          expect(echoedText.binary).toBe(false);
          expect([echoedText.data.length, sha256(echoedText.data)]).toEqual([size, sha256(Buffer.from(text))]);
          expect(echoedBinary.binary).toBe(true);
          expect([echoedBinary.data.length, sha256(echoedBinary.data)]).toEqual([size, sha256(binary)]);
          expect(seen.messages).toEqual([
            { length: size, isBinary: false },
            { length: size, isBinary: true },
          ]);
        }, 20_000);

        it('a message over maxPayload: the client sees 1009', async () => {
          const { handlers, seen } = compressedEcho({ maxPayload: 1024 * 1024 });
          const peer = await connect(await serve(handlers));
          peer.send(Buffer.alloc(1024 * 1024 + 1));
          expect((await peer.closed).code).toBe(CloseCode.MESSAGE_TOO_BIG);
          // The server failed the connection, so no close frame came back to it: ws reports 1006.
          await expect.poll(() => seen.closes).toHaveLength(1);
          expect(seen.messages).toEqual([]);
        });

        it(`compression: ${kind.deflate ? 'permessage-deflate is negotiated' : 'no extension'} on an endpoint with compression on, and 1 MiB of text round-trips`, async () => {
          const { handlers, seen } = compressedEcho();
          const peer = await connect(await serve(handlers));
          await expect.poll(() => seen.opens).toHaveLength(1);
          if (kind.deflate) {
            expect(peer.extensions).toMatch(/^permessage-deflate\b/);
            expect(seen.opens[0]!.extensions).toMatch(/^permessage-deflate\b/);
          } else {
            expect(peer.extensions).toBe('');
            expect(seen.opens[0]!.extensions).toBe('');
          }
          const text = 'compressible text '.repeat(58_254);
          peer.send(text);
          const echoed = await peer.next(15_000);
          expect(echoed.data.length).toBe(Buffer.byteLength(text));
          expect(echoed.data.toString() === text).toBe(true);
        }, 20_000);

        it('compression off on the endpoint: nothing is negotiated, even when the client offers it', async () => {
          const { handlers, seen } = compressedEcho({ compression: false });
          const peer = await connect(await serve(handlers));
          expect(peer.extensions).toBe('');
          await expect.poll(() => seen.opens).toEqual([{ protocol: '', extensions: '' }]);
          peer.send('x'.repeat(10_000));
          expect((await peer.next()).data.toString()).toBe('x'.repeat(10_000));
        });

        it("pings: the server's heartbeat pings are answered, and the client's pings reach the ping hook", async () => {
          const { handlers, seen } = compressedEcho({ heartbeat: { interval: 50, timeout: 2000 } });
          const peer = await connect(await serve(handlers));
          await expect.poll(() => seen.pongs, { timeout: 3000 }).toBeGreaterThanOrEqual(2);
          await peer.ping('client ping');
          await expect.poll(() => seen.pings).toEqual(['client ping']);
          peer.send('still open');
          expect((await peer.next()).data.toString()).toBe('still open');
          expect(seen.closes).toEqual([]);
        });
      });
    }

    it("faye-websocket's ping option: the server sees a ping each second, numbered by faye", async () => {
      const { handlers, seen } = compressedEcho();
      const s = await serve(handlers);
      const peer = await fayeClient({ ping: 1 }).connect(s.url('/ws'), []);
      peers.push(peer);
      await expect.poll(() => seen.pings.slice(0, 2), { timeout: 4000, interval: 100 }).toEqual(['1', '2']);
      peer.send('after pings');
      expect((await peer.next()).data.toString()).toBe('after pings');
    }, 10_000);
  });
}
