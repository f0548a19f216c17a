/**
 * The fallback transport for networks that block WebSockets: a Server-Sent Events stream for
 * server-to-client messages and POSTs for client-to-server ones (docs/fallback-protocol.md).
 *
 * An {@link SseSocket} stands in for a `ws` WebSocket under a {@link Connection}: it has the
 * same readyState, send, close, terminate, ping and events, so handlers, the hub, heartbeat and
 * backpressure work unchanged, and an app can't tell the transports apart unless it reads
 * `ws.transport`. Its parts (SSE wire, replay buffer, POST frames, ownership, URL parameters,
 * settings) live beside it in fallback/; what other modules imported from here is re-exported.
 */
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { ServerResponse } from 'node:http';
import { CloseCode, SseEvent } from '../protocol.js';
import type { Transport } from '../connection/transport.js';
import type { Owner } from './owner.js';
import { decodeFrame } from './post.js';
import { ReplayBuffer } from './replay.js';
import type { ResolvedFallbackOptions } from './settings.js';
import {
  SSE_COMMENT,
  STREAM_CLOSE_TIMEOUT,
  encodeEvent,
  encodeRetry,
  endStreamWithin,
  writeStreamHead,
} from './sse-stream.js';

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
  /**
   * When the client was last heard from (whole ms of performance.now()): its last POST or
   * resume, whatever it carried. The heartbeat counts it as a pong (endpoint/heartbeat.ts), so a
   * session that acknowledges events or sends messages is not pinged.
   */
  heardAt = 0;

  readonly #host: SessionHost;
  readonly #options: ResolvedFallbackOptions;
  #stream: ServerResponse | undefined;
  readonly #replay: ReplayBuffer;
  #offlineBytes = 0;
  #heartbeat: NodeJS.Timeout | undefined;
  #expiry: NodeJS.Timeout | undefined;

  constructor(host: SessionHost, protocol: string, options: ResolvedFallbackOptions, owner: Owner) {
    super();
    this.#host = host;
    this.protocol = protocol;
    this.#options = options;
    this.#replay = new ReplayBuffer(options);
    this.owner = owner;
  }

  /** Bytes of events held for replay. */
  get replayBytes(): number {
    return this.#replay.bytes;
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
    writeStreamHead(res);
    let head = encodeRetry(this.#options.retry);
    if (first)
      head += encodeEvent(
        undefined,
        SseEvent.OPEN,
        JSON.stringify({ session: this.id, protocol: this.protocol, heartbeat: this.#options.heartbeat }),
      );
    // The client has everything up to Last-Event-ID: that much is acknowledged.
    if (lastEventId !== undefined) this.acknowledge(lastEventId);
    if (!first) this.heard();
    head += this.#replay.text();
    res.write(head);
    res.socket?.setNoDelay(true);
    this.#clearExpiry();
    this.#heartbeat ??= setInterval(sendComment, this.#options.heartbeat, this).unref();
  }

  /** True when every event after `lastEventId` is still in the replay buffer. */
  canReplayFrom(lastEventId: number | undefined): boolean {
    return this.#replay.canReplayFrom(lastEventId);
  }

  /** The client has every event up to `lastEventId`: they need not be kept for replay. */
  acknowledge(lastEventId: number): void {
    this.#replay.acknowledge(lastEventId);
  }

  /** The stream dropped: wait for a resume or a POST until the session times out. */
  detach(res: ServerResponse): void {
    if (this.#stream !== res) return;
    this.#stream = undefined;
    if (this.#heartbeat) clearInterval(this.#heartbeat);
    this.#heartbeat = undefined;
    if (this.readyState < 2) this.touch();
  }

  /** A request of the client's (its owner checked) arrived: it is alive. */
  heard(): void {
    this.heardAt = Math.floor(performance.now());
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
    this.#stream?.write(SSE_COMMENT);
  }

  #push(event: string, data: string): void {
    const { text, bytes } = this.#replay.push(event, data);
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
    const buffer =
      typeof data === 'string'
        ? Buffer.from(data)
        : Buffer.isBuffer(data)
          ? data
          : ArrayBuffer.isView(data)
            ? Buffer.from(data.buffer, data.byteOffset, data.byteLength)
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
    this.#replay.clear();
    this.#host.forget(this);
    this.emit('close', code, Buffer.from(reason));
  }

  /**
   * Delivers the frames of one POST, skipping those already seen (a retried POST). Returns an
   * HTTP status and message for the POST's answer.
   */
  receive(seq: number, frames: unknown[], maxPayload: number): [number, string] {
    this.heard();
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
      const decoded = decodeFrame(frame, maxPayload);
      if (decoded.kind === 'message') this.emit('message', decoded.data, decoded.binary);
      else if (decoded.kind === 'pong') this.emit('pong', decoded.data);
      else if (decoded.kind === 'close') this.closedByClient(decoded.code, decoded.reason);
      else if (decoded.kind === 'too-big') return this.#tooBig();
      else return [400, decoded.message];
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
