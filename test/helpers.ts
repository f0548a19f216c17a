/**
 * Clients and byte-level tools for the conformance suite: raw `net` sockets with hand-built
 * frames, plus promise helpers around the `ws` client.
 */
import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';
import tls from 'node:tls';
import { once } from 'node:events';
import { beforeEach, expect, vi } from 'vitest';
import WebSocket from 'ws';
import selfsigned from 'selfsigned';
import type { CloseEvent, Handlers } from '@switchyard/core';

export const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
export const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
export const ACCEPT = createHash('sha1')
  .update(KEY + GUID)
  .digest('base64');

/** Waits `ms`: for pacing sends or for server-side latency, never before asserting something happened. */
export const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Waits `ms` during which something must NOT happen (a close, a frame, a request); the caller
 * asserts afterwards that it did not. A negative has no event to wait for, so this bounded wait
 * is the only way to check one: the test fails when the thing happens within `ms`.
 */
export const quietFor = (ms: number): Promise<void> => delay(ms);

/**
 * Makes every test of the calling describe fail when it asserts nothing: such a test passes
 * whatever the code under test does. Assertions in helpers it calls count.
 */
export function requireAssertions(): void {
  beforeEach(() => {
    expect.hasAssertions();
  });
}

/** Waits until `check` holds, polling every 5 ms; the timeout error names `what`. */
export async function until(check: () => boolean, what: string | (() => string), timeout = 3000): Promise<void> {
  await vi.waitFor(
    () => {
      if (!check()) throw new Error(`timed out waiting for ${typeof what === 'string' ? what : what()}`);
    },
    { timeout, interval: 5 },
  );
}

/**
 * Items in arrival order for `await next()`. A waiter that times out leaves the queue, so the
 * next item goes to the next caller rather than to a waiter nobody awaits any more; after `end()`
 * the items already queued are still returned, then `next()` fails at once.
 */
export class AsyncQueue<T> {
  /** Every item pushed, read or not. */
  readonly all: T[] = [];
  #read = 0;
  readonly #waiters: Array<{ resolve(item: T): void; reject(error: Error): void }> = [];
  #ended: Error | undefined;

  constructor(private readonly what = 'item') {}

  push(item: T): void {
    this.all.push(item);
    const waiter = this.#waiters.shift();
    if (waiter) waiter.resolve(this.all[this.#read++]!);
  }

  /** No more items: waiting and later `next()` calls fail with `error`. */
  end(error: Error): void {
    this.#ended = error;
    for (const waiter of this.#waiters.splice(0)) waiter.reject(error);
  }

  /** The number of callers waiting (a timed-out one is not counted). */
  get waiting(): number {
    return this.#waiters.length;
  }

  next(timeout = 3000): Promise<T> {
    if (this.#read < this.all.length) return Promise.resolve(this.all[this.#read++]!);
    if (this.#ended) return Promise.reject(this.#ended);
    return new Promise<T>((resolve, reject) => {
      const waiter = {
        resolve(item: T): void {
          clearTimeout(timer);
          resolve(item);
        },
        reject(error: Error): void {
          clearTimeout(timer);
          reject(error);
        },
      };
      const timer = setTimeout(() => {
        this.#waiters.splice(this.#waiters.indexOf(waiter), 1);
        reject(new Error(`no ${this.what} within ${timeout} ms`));
      }, timeout);
      this.#waiters.push(waiter);
    });
  }
}

/** A self-signed certificate for 127.0.0.1 / localhost, made fresh for the test run. */
export async function selfSignedCert(): Promise<{ key: string; cert: string }> {
  const pems = await selfsigned.generate([{ name: 'commonName', value: 'localhost' }], {
    keySize: 2048,
    extensions: [
      {
        name: 'subjectAltName',
        altNames: [
          { type: 2, value: 'localhost' },
          { type: 7, ip: '127.0.0.1' },
        ],
      },
    ],
  });
  return { key: pems.private, cert: pems.cert };
}

/** The request head of a valid handshake, with overrides (a `null` value removes a header). */
export function handshakeRequest(
  path: string,
  headers: Record<string, string | null> = {},
  requestLine?: string,
): string {
  const all: Record<string, string | null> = {
    Host: '127.0.0.1',
    Upgrade: 'websocket',
    Connection: 'Upgrade',
    'Sec-WebSocket-Key': KEY,
    'Sec-WebSocket-Version': '13',
    ...headers,
  };
  let head = `${requestLine ?? `GET ${path} HTTP/1.1`}\r\n`;
  for (const [name, value] of Object.entries(all)) if (value !== null) head += `${name}: ${value}\r\n`;
  return `${head}\r\n`;
}

/** A raw TCP (or TLS) client that records every byte the server sends. */
export class RawClient {
  readonly socket: net.Socket;
  closed = false;
  readonly #waiters = new Set<() => void>();
  /** Grows by doubling, so that megabytes arriving in small chunks cost linear time, not quadratic. */
  #buffer = Buffer.alloc(0);
  #length = 0;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => {
      if (this.#length + chunk.length > this.#buffer.length) {
        const grown = Buffer.allocUnsafe(Math.max(2 * this.#buffer.length, this.#length + chunk.length, 4096));
        this.#buffer.copy(grown, 0, 0, this.#length);
        this.#buffer = grown;
      }
      chunk.copy(this.#buffer, this.#length);
      this.#length += chunk.length;
      for (const waiter of this.#waiters) waiter();
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      this.closed = true;
      for (const waiter of this.#waiters) waiter();
    });
  }

  /** Every byte received so far. */
  get received(): Buffer {
    return this.#buffer.subarray(0, this.#length);
  }

  static async connect(port: number, options: { tls?: boolean } = {}): Promise<RawClient> {
    const socket = options.tls
      ? tls.connect({ port, host: '127.0.0.1', rejectUnauthorized: false })
      : net.connect(port, '127.0.0.1');
    await once(socket, options.tls ? 'secureConnect' : 'connect');
    return new RawClient(socket);
  }

  write(data: string | Buffer): void {
    this.socket.write(data);
  }

  /** Waits until `predicate` holds for the bytes received so far (or the socket closed). */
  async until(predicate: (received: Buffer) => boolean, timeout = 3000): Promise<Buffer> {
    const deadline = Date.now() + timeout;
    while (!predicate(this.received)) {
      if (this.closed) throw new Error(`socket closed; received ${JSON.stringify(this.received.toString('latin1'))}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out; received ${JSON.stringify(this.received.toString('latin1'))}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, left);
        const self = this;
        function done(): void {
          clearTimeout(timer);
          self.#waiters.delete(done);
          resolve();
        }
        this.#waiters.add(done);
      });
    }
    return this.received;
  }

  /** Waits for the end of the HTTP response head and returns it with the bytes after it. */
  async response(timeout?: number): Promise<HttpHead & { rest: Buffer }> {
    const all = await this.until((b) => b.includes('\r\n\r\n'), timeout);
    const end = all.indexOf('\r\n\r\n');
    return { ...parseHead(all.subarray(0, end).toString('latin1')), rest: all.subarray(end + 4) };
  }

  async waitClosed(timeout = 3000): Promise<void> {
    if (this.closed) return;
    await Promise.race([
      once(this.socket, 'close'),
      delay(timeout).then(() => {
        throw new Error('socket still open');
      }),
    ]);
  }

  /** Frames received after the 101 head. */
  frames(): Frame[] {
    const end = this.received.indexOf('\r\n\r\n');
    return parseFrames(this.received.subarray(end + 4));
  }

  destroy(): void {
    this.socket.destroy();
  }
}

export interface HttpHead {
  statusLine: string;
  status: number;
  headers: Record<string, string>;
}

export function parseHead(text: string): HttpHead {
  const [statusLine = '', ...lines] = text.split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { statusLine, status: Number(statusLine.split(' ')[1]), headers };
}

/** Reads a full HTTP response (head and Content-Length body) from a raw client. */
export async function readResponse(client: RawClient): Promise<HttpHead & { body: string }> {
  const head = await client.response();
  const length = Number(head.headers['content-length'] ?? 0);
  const all = await client.until((b) => b.length >= b.indexOf('\r\n\r\n') + 4 + length);
  const start = all.indexOf('\r\n\r\n') + 4;
  return { ...head, body: all.subarray(start, start + length).toString() };
}

export const Opcode = { CONTINUATION: 0, TEXT: 1, BINARY: 2, CLOSE: 8, PING: 9, PONG: 10 } as const;

/** Builds one frame; client frames are masked unless `mask: false`. */
export function frame(
  opcode: number,
  payload: string | Buffer = Buffer.alloc(0),
  options: { fin?: boolean; mask?: boolean; rsv?: number } = {},
): Buffer {
  const data = typeof payload === 'string' ? Buffer.from(payload) : payload;
  const { fin = true, mask = true, rsv = 0 } = options;
  const length = data.length;
  const lengthBytes = length < 126 ? 0 : length < 65536 ? 2 : 8;
  const header = Buffer.alloc(2 + lengthBytes + (mask ? 4 : 0));
  header[0] = (fin ? 0x80 : 0) | (rsv << 4) | opcode;
  header[1] = (mask ? 0x80 : 0) | (length < 126 ? length : length < 65536 ? 126 : 127);
  if (lengthBytes === 2) header.writeUInt16BE(length, 2);
  if (lengthBytes === 8) header.writeBigUInt64BE(BigInt(length), 2);
  if (!mask) return Buffer.concat([header, data]);
  const key = randomBytes(4);
  key.copy(header, 2 + lengthBytes);
  const masked = Buffer.alloc(length);
  for (let i = 0; i < length; i++) masked[i] = data[i]! ^ key[i % 4]!;
  return Buffer.concat([header, masked]);
}

/** A close frame with a code and reason. */
export function closeFrame(code: number, reason = ''): Buffer {
  const payload = Buffer.alloc(2 + Buffer.byteLength(reason));
  payload.writeUInt16BE(code, 0);
  payload.write(reason, 2);
  return frame(Opcode.CLOSE, payload);
}

export interface Frame {
  fin: boolean;
  rsv: number;
  opcode: number;
  masked: boolean;
  payload: Buffer;
}

/** Parses server frames (unmasked); stops at an incomplete frame. */
export function parseFrames(data: Buffer): Frame[] {
  const frames: Frame[] = [];
  let offset = 0;
  while (offset + 2 <= data.length) {
    const b0 = data[offset]!;
    const b1 = data[offset + 1]!;
    let length = b1 & 0x7f;
    let at = offset + 2;
    if (length === 126) {
      if (at + 2 > data.length) break;
      length = data.readUInt16BE(at);
      at += 2;
    } else if (length === 127) {
      if (at + 8 > data.length) break;
      length = Number(data.readBigUInt64BE(at));
      at += 8;
    }
    const masked = (b1 & 0x80) !== 0;
    if (masked) at += 4;
    if (at + length > data.length) break;
    frames.push({
      fin: (b0 & 0x80) !== 0,
      rsv: (b0 >> 4) & 7,
      opcode: b0 & 0x0f,
      masked,
      payload: data.subarray(at, at + length),
    });
    offset = at + length;
  }
  return frames;
}

/** The close code in a close frame's payload. */
export function closeCodeOf(f: Frame | undefined): number | undefined {
  return f && f.payload.length >= 2 ? f.payload.readUInt16BE(0) : undefined;
}

/** Opens a `ws` client and waits for 'open' (rejects on an HTTP answer). */
export function openWs(
  url: string,
  protocols?: string | string[],
  options: WebSocket.ClientOptions = {},
): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocols, options);
    // Listen before 'open': the first frame can arrive in the same TCP read as the 101.
    messages(ws);
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
    ws.once('unexpected-response', (_req, res) => reject(new Error(`unexpected response ${res.statusCode}`)));
  });
}

/** A queue of a client's messages, for `await next()`. */
export type Inbox = AsyncQueue<{ data: Buffer; isBinary: boolean }>;
const inboxes = new WeakMap<WebSocket, Inbox>();

/** The message queue of a client, created on first use (openWs creates it before 'open'). */
export function messages(ws: WebSocket): Inbox {
  let inbox = inboxes.get(ws);
  if (!inbox) {
    const created: Inbox = new AsyncQueue('message');
    ws.on('message', (data: Buffer, isBinary: boolean) => created.push({ data, isBinary }));
    inboxes.set(ws, created);
    inbox = created;
  }
  return inbox;
}

/** Resolves with the code and reason the client saw when the connection closed. */
export function closed(ws: WebSocket): Promise<{ code: number; reason: string }> {
  return new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
}

/** Collects `process` warnings with a given code while a test runs. */
export function captureWarnings(code: string): { warnings: Error[]; stop(): void } {
  const warnings: Error[] = [];
  const listener = (warning: Error & { code?: string }): void => {
    if (warning.code === code) warnings.push(warning);
  };
  process.on('warning', listener);
  return { warnings, stop: () => process.off('warning', listener) };
}

/** Echoes every message back, with no heartbeat. */
export const echo: Handlers<undefined> = {
  heartbeat: false,
  message(ws, data) {
    ws.send(data);
  },
};

/** What the server side of a {@link recordingEcho} saw. */
export interface Recorded {
  opens: Array<{ protocol: string; extensions: string }>;
  messages: Array<{ length: number; isBinary: boolean }>;
  closes: CloseEvent[];
  pings: string[];
  pongs: number;
}

/**
 * An echo endpoint that records what the server saw. `options` adds settings; its `open`,
 * `message` and `close` run after the recording, and its `message` replaces the echo. Without
 * one, a text message `close me <code> <reason>` makes the server close.
 */
export function recordingEcho(options: Handlers<undefined> = {}): { handlers: Handlers<undefined>; seen: Recorded } {
  const seen: Recorded = { opens: [], messages: [], closes: [], pings: [], pongs: 0 };
  const { open, message, close } = options;
  return {
    seen,
    handlers: {
      heartbeat: false,
      ...options,
      open(ws) {
        seen.opens.push({ protocol: ws.protocol, extensions: ws.extensions });
        return open?.(ws);
      },
      message(ws, data, isBinary) {
        seen.messages.push({ length: data.length, isBinary });
        if (message) return message(ws, data, isBinary);
        const command = !isBinary && /^close me (\d+) (.*)$/.exec(String(data));
        if (command) ws.close(Number(command[1]), command[2]);
        else ws.send(data);
        return undefined;
      },
      close(ws, event) {
        seen.closes.push(event);
        return close?.(ws, event);
      },
      ping(_ws, data) {
        seen.pings.push(data.toString());
      },
      pong() {
        seen.pongs++;
      },
    },
  };
}
