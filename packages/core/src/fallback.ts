/**
 * The fallback transport for networks that block WebSockets: a Server-Sent Events stream for
 * server-to-client messages and POSTs for client-to-server ones (docs/fallback-protocol.md).
 *
 * An {@link SseSocket} stands in for a `ws` WebSocket under a {@link Connection}: it has the
 * same readyState, send, close, terminate, ping and events, so handlers, the hub, heartbeat and
 * backpressure work unchanged, and an app can't tell the transports apart unless it reads
 * `ws.transport`.
 */
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { CloseCode, isSendableCloseCode } from './codes.js';

/** The text frame a switchyard endpoint sends first when the client asked for it (`__sy=1`). */
export const LIVENESS_FRAME = '\u0000sy:open';

/** What a request asks of the fallback protocol. */
export type FallbackMode = 'live' | 'sse' | 'post';

/** Fallback settings (the `fallback` option); `false` turns the SSE transport off. */
export interface FallbackOptions {
  /** Close a session that has had no stream and no POST for this long (ms). Default 30 000. */
  sessionTimeout?: number;
  /** Send an SSE comment this often (ms) so that proxies keep idle streams. Default 15 000. */
  heartbeat?: number;
  /** The `retry:` the browser waits before reconnecting a dropped stream (ms). Default 1000. */
  retry?: number;
  /** Events kept per session for replay after a stream reconnect. Default 1000. */
  replay?: number;
}

/** The `__sy` query parameters of a request URL, and the URL without them. */
export interface FallbackParams {
  mode: FallbackMode | undefined;
  session: string | undefined;
  protocols: string | undefined;
  /** The URL the app sees: without any `__sy*` parameter. */
  url: string;
}

/** Splits the fallback parameters off a URL. Cheap for the common URL that has none. */
export function fallbackParams(url: string): FallbackParams {
  const q = url.indexOf('?');
  if (q === -1 || !url.includes('__sy', q)) return { mode: undefined, session: undefined, protocols: undefined, url };
  const params = new URLSearchParams(url.slice(q + 1));
  const sy = params.get('__sy');
  const result: FallbackParams = {
    mode: sy === '1' ? 'live' : sy === 'sse' || sy === 'post' ? sy : undefined,
    session: params.get('__sy_session') ?? undefined,
    protocols: params.get('__sy_protocols') ?? undefined,
    url: '',
  };
  for (const key of [...params.keys()]) if (key.startsWith('__sy')) params.delete(key);
  const rest = params.toString();
  result.url = rest ? `${url.slice(0, q)}?${rest}` : url.slice(0, q);
  return result;
}

interface Event {
  id: number;
  text: string;
}

/** What an SSE session tells its endpoint. */
export interface SessionHost {
  /** The session closed: forget it. */
  forget(session: SseSocket): void;
}

const kSession = Symbol('switchyard.session');

/**
 * One fallback session: a ws-compatible socket over a (reconnectable) SSE stream plus POSTs.
 * The `_socket`, `_sender` and `_extensions` members are what Connection and the hub read from
 * a `ws` socket: drain events come from here, and hub fan-out always uses `send`.
 */
export class SseSocket extends EventEmitter {
  /** This session's id: a bearer secret, 128 random bits. */
  readonly id = randomBytes(16).toString('base64url');
  /** The transport name that `ws.transport` reports. */
  readonly transport = 'sse';
  readonly protocol: string;
  readonly extensions = '';
  readyState: 0 | 1 | 2 | 3 = 1;
  /** Frames of the client seen so far: POST retries below this index are duplicates. */
  nextClientFrame = 0;
  readonly _socket: EventEmitter = this;
  readonly _sender = { _state: 1, _queue: [] as unknown[] };
  readonly _extensions: Record<string, unknown> = {};

  readonly #host: SessionHost;
  readonly #options: Required<FallbackOptions>;
  #stream: ServerResponse | undefined;
  #seq = 0;
  #events: Event[] = [];
  #offlineBytes = 0;
  #heartbeat: NodeJS.Timeout | undefined;
  #expiry: NodeJS.Timeout | undefined;

  constructor(host: SessionHost, protocol: string, options: Required<FallbackOptions>) {
    super();
    this.#host = host;
    this.protocol = protocol;
    this.#options = options;
  }

  /** Bytes written but not yet flushed to the current stream, or queued while there is none. */
  get bufferedAmount(): number {
    return this.#stream ? this.#stream.writableLength : this.#offlineBytes;
  }

  /** Starts (or resumes) the stream on `res`, replaying events after `lastEventId`. */
  attach(res: ServerResponse, lastEventId: number | undefined, first: boolean): void {
    const previous = this.#stream;
    if (previous) {
      previous.off('close', onStreamClose);
      previous.end();
    }
    this.#stream = res;
    this.#offlineBytes = 0;
    (res as ServerResponse & { [kSession]?: SseSocket })[kSession] = this;
    res.on('close', onStreamClose);
    res.on('drain', onStreamDrain);
    res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-cache, no-transform',
      // nginx and some CDNs buffer responses unless told not to.
      'X-Accel-Buffering': 'no',
    });
    let head = `retry: ${this.#options.retry}\n\n`;
    if (first) head += `event: open\ndata: ${JSON.stringify({ session: this.id, protocol: this.protocol, heartbeat: this.#options.heartbeat })}\n\n`;
    for (const event of this.#events) if (lastEventId === undefined || event.id > lastEventId) head += event.text;
    res.write(head);
    res.socket?.setNoDelay(true);
    this.#clearExpiry();
    this.#heartbeat ??= setInterval(sendComment, this.#options.heartbeat, this).unref();
  }

  /** True when every event after `lastEventId` is still in the replay buffer. */
  canReplayFrom(lastEventId: number | undefined): boolean {
    const oldest = this.#events[0]?.id ?? this.#seq + 1;
    return (lastEventId ?? 0) >= oldest - 1;
  }

  /** The stream dropped: wait for a resume or a POST until the session times out. */
  detach(res: ServerResponse): void {
    if (this.#stream !== res) return;
    this.#stream = undefined;
    if (this.#heartbeat) clearInterval(this.#heartbeat);
    this.#heartbeat = undefined;
    if (this.readyState < 2) this.touch();
  }

  /** Something came from the client: restart the expiry clock if no stream is open. */
  touch(): void {
    this.#clearExpiry();
    if (!this.#stream && this.readyState < 2) {
      this.#expiry = setTimeout(expire, this.#options.sessionTimeout, this).unref();
    }
  }

  #clearExpiry(): void {
    if (this.#expiry) clearTimeout(this.#expiry);
    this.#expiry = undefined;
  }

  /** An SSE comment: keeps proxies from cutting an idle stream; no id, not replayed. */
  comment(): void {
    this.#stream?.write(':\n\n');
  }

  #push(event: string, data: string): void {
    const id = ++this.#seq;
    const text = `id: ${id}\n${event ? `event: ${event}\n` : ''}data: ${data}\n\n`;
    this.#events.push({ id, text });
    if (this.#events.length > this.#options.replay) this.#events.shift();
    if (this.#stream) this.#stream.write(text);
    else this.#offlineBytes += text.length;
  }

  /** Sends a message; binary goes base64-encoded, text as a JSON string literal. */
  send(data: string | Buffer | ArrayBuffer | ArrayBufferView, options?: { binary?: boolean }): void {
    if (this.readyState !== 1) return;
    if (typeof data === 'string' && !options?.binary) {
      this.#push('', JSON.stringify(data));
      return;
    }
    const buffer = typeof data === 'string' ? Buffer.from(data)
      : Buffer.isBuffer(data) ? data
        : ArrayBuffer.isView(data) ? Buffer.from(data.buffer, data.byteOffset, data.byteLength)
          : Buffer.from(data);
    this.#push('binary', buffer.toString('base64'));
  }

  /** Asks the client for a pong (it answers with a POST). */
  ping(data?: Buffer | string): void {
    if (this.readyState !== 1) return;
    this.#push('ping', Buffer.from(data ?? '').toString('base64'));
  }

  /** Closes the session: a `close` event on the stream, then the close handlers. */
  close(code: number = CloseCode.NORMAL, reason = ''): void {
    if (this.readyState >= 2) return;
    this.#push('close', JSON.stringify({ code, reason }));
    this.#finish(code, reason, true);
  }

  /** Drops the session without telling the client. Handlers see 1006. */
  terminate(): void {
    if (this.readyState >= 2) return;
    this.#stream?.destroy();
    this.#finish(CloseCode.ABNORMAL, '', false);
  }

  /** The client closed (a `close` frame in a POST). */
  closedByClient(code: number, reason: string): void {
    if (this.readyState >= 2) return;
    // Echo the close, as a WebSocket peer would, so that a still-open stream ends cleanly.
    this.#push('close', JSON.stringify({ code, reason }));
    this.#finish(code, reason, true);
  }

  #finish(code: number, reason: string, endStream: boolean): void {
    this.readyState = 3;
    this.#clearExpiry();
    if (this.#heartbeat) clearInterval(this.#heartbeat);
    this.#heartbeat = undefined;
    const stream = this.#stream;
    this.#stream = undefined;
    if (stream) {
      stream.off('close', onStreamClose);
      if (endStream) stream.end();
    }
    this.#events = [];
    this.#host.forget(this);
    this.emit('close', code, Buffer.from(reason));
  }

  /**
   * Delivers the frames of one POST, skipping those already seen (a retried POST). Returns an
   * HTTP status and message for the POST's answer.
   */
  receive(seq: number, frames: unknown[], maxPayload: number): [number, string] {
    this.touch();
    if (seq > this.nextClientFrame) {
      // A POST went missing (or a forwarded one is late): delivering this one would skip
      // frames silently.
      return [409, `Frames ${this.nextClientFrame} to ${seq - 1} are missing`];
    }
    let index = seq;
    for (const frame of frames) {
      if (index++ < this.nextClientFrame) continue;
      this.nextClientFrame = index;
      if (this.readyState !== 1) break;
      if (!Array.isArray(frame)) return [400, 'Malformed frame'];
      const [kind, payload, reason] = frame as [unknown, unknown, unknown];
      if (kind === 't' && typeof payload === 'string') {
        if (Buffer.byteLength(payload) > maxPayload) return this.#tooBig();
        this.emit('message', Buffer.from(payload), false);
      } else if (kind === 'b' && typeof payload === 'string') {
        const data = Buffer.from(payload, 'base64');
        if (data.length > maxPayload) return this.#tooBig();
        this.emit('message', data, true);
      } else if (kind === 'pong' && typeof payload === 'string') {
        this.emit('pong', Buffer.from(payload, 'base64'));
      } else if (kind === 'close') {
        const code = typeof payload === 'number' ? payload : CloseCode.NO_STATUS;
        this.closedByClient(isSendableCloseCode(code) ? code : CloseCode.PROTOCOL_ERROR, typeof reason === 'string' ? reason : '');
      } else {
        return [400, `Unknown frame ${JSON.stringify(kind)}`];
      }
    }
    return [204, ''];
  }

  #tooBig(): [number, string] {
    this.close(CloseCode.MESSAGE_TOO_BIG, 'Message too big');
    return [413, 'Message larger than maxPayload'];
  }
}

function sessionOf(res: ServerResponse): SseSocket | undefined {
  return (res as ServerResponse & { [kSession]?: SseSocket })[kSession];
}

function onStreamClose(this: ServerResponse): void {
  sessionOf(this)?.detach(this);
}

function onStreamDrain(this: ServerResponse): void {
  sessionOf(this)?.emit('drain');
}

function sendComment(session: SseSocket): void {
  session.comment();
}

function expire(session: SseSocket): void {
  session.terminate();
}

/** Reads a request body up to `limit` bytes, or uses what a body parser already read. */
export async function readBody(req: IncomingMessage & { body?: unknown }, limit: number): Promise<string | undefined> {
  if (typeof req.body === 'string') return req.body;
  if (req.body !== undefined && req.body !== null && typeof req.body === 'object' && !Buffer.isBuffer(req.body) && Object.keys(req.body).length > 0) {
    return JSON.stringify(req.body);
  }
  if (Buffer.isBuffer(req.body)) return req.body.toString();
  if (req.readableEnded) return '';
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) return undefined;
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString();
}
