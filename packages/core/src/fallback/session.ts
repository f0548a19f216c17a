/**
 * The fallback transport for networks that block WebSockets: a Server-Sent Events stream for
 * server-to-client messages and POSTs for client-to-server ones (docs/fallback-protocol.md).
 *
 * An {@link SseSocket} stands in for a `ws` WebSocket under a {@link Connection}: it has the
 * same readyState, send, close, terminate, ping and events, so handlers, the hub, heartbeat and
 * backpressure work unchanged, and an app can't tell the transports apart unless it reads
 * `ws.transport`.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { CloseCode, FallbackMode, FallbackParam, PostFrame, SseEvent, SESSION_HEADER as PROTOCOL_SESSION_HEADER, isSendableCloseCode } from '../protocol.js';
import type { UpgradeRequest } from '../request.js';
import type { Transport } from '../transport.js';

export { LIVENESS_FRAME } from '../protocol.js';

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
  /**
   * Bytes of events kept per session for replay, until the client acknowledges them. Default
   * 2 MiB. A resume that needs an event no longer kept gets 404 and the client starts afresh.
   */
  replayBytes?: number;
  /**
   * Names the client that may use a session: called when the session is created and for every
   * POST and resume; a different answer gets 403. Default: the request's `Authorization` header
   * and URL (the app's query) must be the same as the creating request's.
   */
  owner?: (req: UpgradeRequest) => string | Promise<string>;
}

/** Fallback settings with defaults applied; `owner` stays optional. */
export type ResolvedFallbackOptions = Required<Omit<FallbackOptions, 'owner'>> & Pick<FallbackOptions, 'owner'>;

/**
 * The session id header as Node hands it over (lower-cased). `__sy_session` in the query is
 * still read, for EventSource, which cannot set headers.
 */
export const SESSION_HEADER = PROTOCOL_SESSION_HEADER.toLowerCase();

/**
 * How long a closed session's stream may take to flush its last events before its socket is
 * destroyed. A slow consumer's stream (1008 with its buffer backed up) is destroyed at once: its
 * reader is the problem.
 */
export const STREAM_CLOSE_TIMEOUT = 5000;

/** The identity a session is bound to: a digest, compared in constant time. */
export type Owner = Buffer;

/** The owner digest of `name`, as returned by a `fallback.owner` function. */
export function ownerOf(name: string): Owner {
  return createHash('sha256').update('owner\0').update(name).digest();
}

/** The default owner: the credentials a request carries besides cookies (see FallbackOptions.owner). */
export function credentialsOf(authorization: string | undefined, url: string): Owner {
  return createHash('sha256').update('credentials\0').update(authorization ?? '').update('\0').update(url).digest();
}

/** True when two owner digests are the same. */
export function sameOwner(a: Owner, b: Owner): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
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
  if (q === -1 || !url.includes(FallbackParam.MODE, q)) return { mode: undefined, session: undefined, protocols: undefined, url };
  const params = new URLSearchParams(url.slice(q + 1));
  const sy = params.get(FallbackParam.MODE);
  const result: FallbackParams = {
    mode: sy === FallbackMode.LIVE ? 'live' : sy === FallbackMode.SSE || sy === FallbackMode.POST ? sy : undefined,
    session: params.get(FallbackParam.SESSION) ?? undefined,
    protocols: params.get(FallbackParam.PROTOCOLS) ?? undefined,
    url: '',
  };
  for (const key of [...params.keys()]) if (key.startsWith(FallbackParam.MODE)) params.delete(key);
  const rest = params.toString();
  result.url = rest ? `${url.slice(0, q)}?${rest}` : url.slice(0, q);
  return result;
}

interface Event {
  id: number;
  text: string;
  /** `text` in UTF-8 bytes: what the replay budget counts. */
  bytes: number;
}

/** What an SSE session tells its endpoint. */
export interface SessionHost {
  /** The session closed: forget it. */
  forget(session: SseSocket): void;
}

const kSession = Symbol('switchyard.session');

/**
 * One fallback session: a Transport (transport.ts) over a (reconnectable) SSE stream plus
 * POSTs. It emits 'drain' itself when its stream drained; a hub's shared frames reach it as
 * `send` calls.
 */
export class SseSocket extends EventEmitter implements Transport {
  /** This session's id: a secret, 128 random bits, usable only by its {@link owner}. */
  readonly id = randomBytes(16).toString('base64url');
  /** Who may POST to and resume this session. */
  readonly owner: Owner;
  /** The transport name that `ws.transport` reports. */
  readonly transport = 'sse';
  readonly protocol: string;
  readonly extensions = '';
  readyState: 0 | 1 | 2 | 3 = 1;
  /** Frames of the client seen so far: POST retries below this index are duplicates. */
  nextClientFrame = 0;

  readonly #host: SessionHost;
  readonly #options: ResolvedFallbackOptions;
  #stream: ServerResponse | undefined;
  #seq = 0;
  /** Events the client has not acknowledged yet, oldest first, within the replay budget. */
  #events: Event[] = [];
  #eventBytes = 0;
  /** Events up to this id are no longer kept (acknowledged, or dropped for the budget). */
  #keptAfter = 0;
  #offlineBytes = 0;
  #heartbeat: NodeJS.Timeout | undefined;
  #expiry: NodeJS.Timeout | undefined;

  constructor(host: SessionHost, protocol: string, options: ResolvedFallbackOptions, owner: Owner) {
    super();
    this.#host = host;
    this.protocol = protocol;
    this.#options = options;
    this.owner = owner;
  }

  /** Bytes of events held for replay. */
  get replayBytes(): number {
    return this.#eventBytes;
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
    if (first) head += `event: ${SseEvent.OPEN}\ndata: ${JSON.stringify({ session: this.id, protocol: this.protocol, heartbeat: this.#options.heartbeat })}\n\n`;
    // The client has everything up to Last-Event-ID: that much is acknowledged.
    if (lastEventId !== undefined) this.acknowledge(lastEventId);
    for (const event of this.#events) head += event.text;
    res.write(head);
    res.socket?.setNoDelay(true);
    this.#clearExpiry();
    this.#heartbeat ??= setInterval(sendComment, this.#options.heartbeat, this).unref();
  }

  /** True when every event after `lastEventId` is still in the replay buffer. */
  canReplayFrom(lastEventId: number | undefined): boolean {
    const from = lastEventId ?? 0;
    return from >= this.#keptAfter && from <= this.#seq;
  }

  /** The client has every event up to `lastEventId`: they need not be kept for replay. */
  acknowledge(lastEventId: number): void {
    const upTo = Math.min(lastEventId, this.#seq);
    if (upTo <= this.#keptAfter) return;
    this.#keptAfter = upTo;
    let count = 0;
    for (const event of this.#events) {
      if (event.id > upTo) break;
      this.#eventBytes -= event.bytes;
      count++;
    }
    if (count > 0) this.#events.splice(0, count);
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
    const bytes = Buffer.byteLength(text);
    const events = this.#events;
    events.push({ id, text, bytes });
    this.#eventBytes += bytes;
    const { replay, replayBytes } = this.#options;
    if (events.length > replay || this.#eventBytes > replayBytes) {
      // Oldest first, until the rest fits; a single event larger than the budget is not kept.
      let count = 0;
      while (count < events.length && (events.length - count > replay || this.#eventBytes > replayBytes)) {
        this.#eventBytes -= events[count]!.bytes;
        this.#keptAfter = events[count]!.id;
        count++;
      }
      events.splice(0, count);
    }
    if (this.#stream) this.#stream.write(text);
    else this.#offlineBytes += bytes;
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
    this.#push(SseEvent.BINARY, buffer.toString('base64'));
  }

  /** Asks the client for a pong (it answers with a POST). */
  ping(data?: Buffer | string): void {
    if (this.readyState !== 1) return;
    this.#push(SseEvent.PING, Buffer.from(data ?? '').toString('base64'));
  }

  /** Closes the session: a `close` event on the stream, then the close handlers. */
  close(code: number = CloseCode.NORMAL, reason = ''): void {
    if (this.readyState >= 2) return;
    this.#push(SseEvent.CLOSE, JSON.stringify({ code, reason }));
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
    this.#push(SseEvent.CLOSE, JSON.stringify({ code, reason }));
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
      stream.off('drain', onStreamDrain);
      // A slow consumer's stream (1008, and backed up) is the problem itself: no close event
      // can get through it. A 1008 for anything else (a rate limit) ends like any close.
      const slow = code === CloseCode.POLICY_VIOLATION && stream.writableNeedDrain;
      if (endStream) endStreamWithin(stream, slow ? 0 : STREAM_CLOSE_TIMEOUT);
    }
    this.#events = [];
    this.#eventBytes = 0;
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
      if (kind === PostFrame.TEXT && typeof payload === 'string') {
        if (Buffer.byteLength(payload) > maxPayload) return this.#tooBig();
        this.emit('message', Buffer.from(payload), false);
      } else if (kind === PostFrame.BINARY && typeof payload === 'string') {
        const data = Buffer.from(payload, 'base64');
        if (data.length > maxPayload) return this.#tooBig();
        this.emit('message', data, true);
      } else if (kind === PostFrame.PONG && typeof payload === 'string') {
        this.emit('pong', Buffer.from(payload, 'base64'));
      } else if (kind === PostFrame.CLOSE) {
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

/**
 * Ends a stream, and destroys it if its data has not gone out within `timeout` ms: a reader
 * that stopped reading would otherwise hold the response, its socket and everything buffered
 * for as long as its TCP connection lives. 0 destroys it at once.
 */
function endStreamWithin(stream: ServerResponse, timeout: number): void {
  if (timeout === 0) {
    stream.destroy();
    return;
  }
  stream.end();
  if (stream.writableFinished) return;
  const timer = setTimeout(giveUp, timeout, stream).unref();
  stream.once('finish', () => clearTimeout(timer));
  stream.once('close', () => clearTimeout(timer));
}

function giveUp(stream: ServerResponse): void {
  if (!stream.writableFinished) stream.destroy();
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
