/**
 * The fallback transport: server-to-client messages on a `text/event-stream`, client-to-server
 * messages in POSTs (docs/fallback-protocol.md, sections 2 and 3). A stream that drops is resumed
 * with `Last-Event-ID` and the session goes on; only a lost session ends the transport.
 */
import { decodeBase64, encodeBase64 } from './base64.js';
import { backoffDelay, retryAfterDelay } from './backoff.js';
import type { ReconnectOptions } from './backoff.js';
import { CloseCode } from './close-codes.js';
import { EventStreamParser } from './event-stream.js';
import { FallbackMode, FallbackParam, RecoveryWire, SESSION_HEADER, SseEvent } from './protocol.js';
import type { ServerSentEvent } from './event-stream.js';
import type { Ending, Outgoing, Transport, TransportListener } from './transport.js';
import { retryAfterOf } from './retry-after.js';
import { withParams } from './url.js';

/** What the SSE transport needs from the socket's settings. */
export interface EventStreamSettings {
  /** The endpoint's http(s) URL, with the app's own query. */
  url: URL;
  protocols: string[];
  fetch: typeof fetch;
  /** How long the first event (`open`) may take. */
  openTimeout: number;
  /** Timing of stream resumes and POST retries. */
  backoff: Required<ReconnectOptions>;
  /** The bearer token for every request, in an Authorization header. */
  token?: (() => string) | undefined;
  /** With `recover`: the resume token for a new session (base64url), sent as `X-Switchyard-Resume`. */
  resume?: (() => string) | undefined;
}

/** A frame of a POST body, as the protocol writes it. */
type Frame = ['t', string] | ['b', string] | ['pong', string] | ['close', number, string];

/** A frame waiting for its POST; `message` is what the app sent, kept to hand back if unsent. */
interface Pending {
  message?: Outgoing;
  frame: Frame | Promise<Frame>;
  /** About how many bytes the frame takes in a POST body. */
  size: number;
}

/** Until the server says otherwise with `retry`. */
const DEFAULT_RETRY = 1000;
/**
 * How long resumes are tried while the network is down. It matches the server's default
 * `sessionTimeout`: after that the session is gone and a resume can only get 404.
 */
const RESUME_WINDOW = 30_000;

/**
 * The server answers a POST as soon as it has read it. One that hangs this long went into a
 * black hole (the kind of network this transport is for) and is retried.
 */
const POST_TIMEOUT = 15_000;

// SESSION_HEADER names the session on POSTs and resumes. It keeps the id out of URLs, which end
// up in access logs; EventSource could not send it, this fetch-based client can.

/**
 * The server keeps every event until the client acknowledges it (or its replay budget runs
 * out). An acknowledgement rides on the next POST; without one, it goes in a POST of its own
 * once this many bytes of events are unacknowledged...
 */
const ACK_BYTES = 64 * 1024;
/** ...or this long (ms) after the first unacknowledged event, whichever comes first. */
const ACK_DELAY = 2000;
/**
 * Frames are batched into one POST up to about this many bytes (a single larger message goes
 * alone), so that a batch stays within what the server reads (twice its maxPayload).
 */
const BATCH_BYTES = 64 * 1024;

/** The events that carry the session's sequence number as their id. */
const NUMBERED = new Set(['message', SseEvent.BINARY, SseEvent.PING, SseEvent.CLOSE]);

const HTTP_OK = 200;
const HTTP_NOT_FOUND = 404;
const HTTP_TOO_LARGE = 413;
const HTTP_BAD_REQUEST = 400;

/** A 4xx that a retry would only repeat. 408 and 429 say "later". */
const isFinalStatus = (status: number): boolean => status >= 400 && status < 500 && status !== 408 && status !== 429;

/** About how many bytes `message` takes in a POST body (base64 for binary). */
function frameSize(message: Outgoing): number {
  if (typeof message === 'string') return message.length;
  return Math.ceil(((message instanceof Uint8Array ? message.byteLength : message.size) * 4) / 3);
}

function toFrame(message: Outgoing): Frame | Promise<Frame> {
  if (typeof message === 'string') return ['t', message];
  if (message instanceof Uint8Array) return ['b', encodeBase64(message)];
  return message.arrayBuffer().then((buffer) => ['b', encodeBase64(new Uint8Array(buffer))]);
}

/** Opens a session: the stream first, POSTs once the `open` event named the session. */
export function openEventStream(settings: EventStreamSettings, listener: TransportListener): Transport {
  const { url, protocols, fetch: fetchImpl, backoff } = settings;
  let session: string | undefined;
  let lastEventId = '';
  let retry = DEFAULT_RETRY;
  let opened = false;
  let done = false;
  let stream: AbortController | undefined;
  /** When the stream first failed to come back, for the resume window. */
  let downSince: number | undefined;
  let resumes = 0;

  const outbox: Pending[] = [];
  /** The POST in flight or being retried: its frames are fixed once sent (same seq, same body). */
  let batch: { seq: number; entries: Pending[]; ack: number | undefined; body?: string } | undefined;
  /** The status of the batch's latest POST (0: the network failed), or the promise of it. */
  let answer: Promise<number> | number | undefined;
  let postController: AbortController | undefined;
  let nextSeq = 0;
  let posting = false;
  let closing = false;
  /** The last event id the server was told about, and bytes of events since. */
  let acked = 0;
  let unackedBytes = 0;
  let ackWanted = false;
  let ackTimer: ReturnType<typeof setTimeout> | undefined;
  /** `abort()`: report nothing, not even an end that is waiting for a POST's answer. */
  let silent = false;
  const timers = new Map<ReturnType<typeof setTimeout>, () => void>();

  const wait = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      const timer = setTimeout(() => {
        timers.delete(timer);
        resolve();
      }, ms);
      timers.set(timer, resolve);
    });
  const stop = (): void => {
    done = true;
    stream?.abort();
    for (const [timer, resolve] of timers) {
      clearTimeout(timer);
      resolve();
    }
    timers.clear();
  };
  /**
   * Ends the transport and hands back the messages that surely were not delivered. A batch whose
   * POST may have reached the server is not among them: sent again on a new session, it could
   * arrive twice. So a POST still on its way is waited for, briefly: after a 404 (the session was
   * already gone) its messages were not delivered, after a 2xx they were, after a failure or no
   * answer nobody knows.
   */
  const end = (code: number, reason: string, wasClean: boolean, fatal = false, retryAfter?: number): void => {
    if (done) return;
    stop();
    const grace = setTimeout(() => postController?.abort(), settings.openTimeout);
    void Promise.resolve(answer).then((status) => {
      clearTimeout(grace);
      if (silent) return;
      const pending =
        batch && (status === undefined || status === HTTP_NOT_FOUND) ? [...batch.entries, ...outbox] : outbox;
      const unsent = pending.flatMap((entry) => (entry.message === undefined ? [] : [entry.message]));
      listener.end({ code, reason, wasClean, opened, fatal, unsent, retryAfter } satisfies Ending);
    });
  };
  const enqueue = (pending: Pending): void => {
    outbox.push(pending);
    void post();
  };
  const requestAck = (): void => {
    if (ackTimer !== undefined) {
      clearTimeout(ackTimer);
      timers.delete(ackTimer);
      ackTimer = undefined;
    }
    if (closing || done) return;
    ackWanted = true;
    void post();
  };
  /** Events came in: acknowledge them soon, at once if they add up. */
  const received = (bytes: number): void => {
    unackedBytes += bytes;
    if (unackedBytes >= ACK_BYTES) return requestAck();
    if (ackTimer === undefined) {
      ackTimer = setTimeout(requestAck, ACK_DELAY);
      timers.set(ackTimer, () => {});
    }
  };

  const handle = (event: ServerSentEvent): void => {
    switch (event.type) {
      case SseEvent.OPEN: {
        if (opened) return;
        const { session: id, protocol } = JSON.parse(event.data) as { session: string; protocol?: string };
        if (typeof id !== 'string' || id === '') throw new SyntaxError('open event without a session');
        session = id;
        opened = true;
        clearTimeout(openTimer);
        listener.open(protocol ?? '');
        return;
      }
      case 'message': {
        const data: unknown = JSON.parse(event.data);
        if (typeof data !== 'string') throw new SyntaxError('message data is not a JSON string');
        listener.message(data);
        return;
      }
      case SseEvent.BINARY:
        listener.message(decodeBase64(event.data));
        return;
      case SseEvent.PING:
        // After our close frame the session takes no more frames.
        if (!closing) enqueue({ frame: ['pong', event.data], size: event.data.length });
        return;
      case SseEvent.CLOSE: {
        const { code, reason } = JSON.parse(event.data) as { code?: number; reason?: string };
        end(typeof code === 'number' ? code : CloseCode.NORMAL, typeof reason === 'string' ? reason : '', true);
        return;
      }
      default:
      // Event types from a later protocol version.
    }
  };

  /** One GET of the stream; resolves when it ended for good or handed over to a resume. */
  const connect = async (): Promise<void> => {
    const controller = new AbortController();
    stream = controller;
    const resuming = session !== undefined;
    const headers: Record<string, string> = { Accept: 'text/event-stream' };
    if (resuming) headers[SESSION_HEADER] = session!;
    if (resuming && lastEventId !== '') headers['Last-Event-ID'] = lastEventId;
    if (settings.token) headers.Authorization = `Bearer ${settings.token()}`;
    // A new session resumes the durable one from a header: fetch can set headers, and the
    // token has no business in a URL.
    if (!resuming && settings.resume) headers[RecoveryWire.RESUME_HEADER] = settings.resume();
    const href = withParams(url, {
      [FallbackParam.MODE]: FallbackMode.SSE,
      [FallbackParam.PROTOCOLS]: protocols.length > 0 ? protocols.join(',') : undefined,
    });
    let response: Response;
    try {
      response = await fetchImpl(href, { headers, signal: controller.signal });
    } catch (error) {
      return done ? undefined : streamLost(String((error as Error).message));
    }
    if (done) {
      void response.body?.cancel().catch(() => {});
      return undefined;
    }
    const type = response.headers.get('content-type') ?? '';
    if (response.status !== HTTP_OK || !type.startsWith('text/event-stream') || !response.body) {
      void response.body?.cancel().catch(() => {});
      const reason = `HTTP ${response.status}${response.status === HTTP_OK ? ` ${type}` : ''}`;
      const retryAfter = retryAfterOf(response.status, response.headers.get('retry-after'));
      // A session the node doesn't know: report it lost, the socket starts a fresh one.
      if (resuming && response.status === HTTP_NOT_FOUND) return end(CloseCode.ABNORMAL, 'session expired', false);
      if (resuming && !isFinalStatus(response.status)) return streamLost(reason, retryAfter);
      return end(CloseCode.ABNORMAL, reason, false, !resuming && isFinalStatus(response.status), retryAfter);
    }
    downSince = undefined;
    resumes = 0;
    const parser = new EventStreamParser(lastEventId);
    const decoder = new TextDecoder();
    const reader = response.body.getReader();
    try {
      for (;;) {
        const { value, done: finished } = await reader.read();
        if (finished || done) break;
        let numbered = false;
        for (const event of parser.feed(decoder.decode(value, { stream: true }))) {
          if (done) break;
          // Ids count 1, 2, 3... per session. A gap (a resume older than the server's replay
          // buffer) or a repeat would lose or duplicate messages without a word: report it.
          if (NUMBERED.has(event.type) && Number(event.id) !== Number(lastEventId) + 1) {
            return end(CloseCode.ABNORMAL, `event ${event.id} after ${lastEventId || 'none'}`, false);
          }
          // Before handling it: a ping's pong, POSTed at once, acknowledges the ping itself, so
          // that no second POST carries that acknowledgement a moment later.
          lastEventId = event.id;
          handle(event);
          numbered ||= NUMBERED.has(event.type);
        }
        if (numbered) received(value.byteLength);
        if (parser.retry !== undefined) retry = parser.retry;
      }
    } catch (error) {
      if (error instanceof SyntaxError || (error instanceof DOMException && error.name === 'InvalidCharacterError')) {
        return end(CloseCode.PROTOCOL_ERROR, `malformed event: ${error.message}`, false);
      }
      // The stream dropped (or was aborted, when `done`).
    }
    if (done) return undefined;
    controller.abort();
    return streamLost('stream ended');
  };

  /** The stream dropped, or a resume of it was refused (`retryAfter`: the server's Retry-After, ms). */
  const streamLost = async (reason: string, retryAfter?: number): Promise<void> => {
    // Before `open` there is no session to resume: the attempt failed.
    if (!opened) return end(CloseCode.ABNORMAL, reason, false);
    downSince ??= Date.now();
    if (Date.now() - downSince > RESUME_WINDOW) return end(CloseCode.ABNORMAL, reason, false);
    const delay = resumes === 0 ? retry : backoffDelay(resumes, { ...backoff, initialDelay: retry });
    await wait(retryAfter === undefined ? delay : retryAfterDelay(retryAfter, delay, backoff));
    resumes++;
    if (!done) void connect();
    return undefined;
  };

  /** Sends the outbox, one POST at a time; a failed POST is retried with the same body. */
  const post = async (): Promise<void> => {
    if (posting || session === undefined) return;
    posting = true;
    let failures = 0;
    while (!done && (batch || outbox.length > 0 || (ackWanted && !closing))) {
      if (!batch) {
        let count = 0;
        let bytes = 0;
        while (count < outbox.length && (count === 0 || bytes + outbox[count]!.size <= BATCH_BYTES))
          bytes += outbox[count++]!.size;
        const ack = Number(lastEventId);
        batch = { seq: nextSeq, entries: outbox.splice(0, count), ack: ack > acked ? ack : undefined };
        nextSeq += batch.entries.length;
        answer = undefined;
        ackWanted = false;
        if (batch.ack !== undefined) {
          acked = batch.ack;
          unackedBytes = 0;
          if (ackTimer !== undefined) {
            clearTimeout(ackTimer);
            timers.delete(ackTimer);
            ackTimer = undefined;
          }
        }
        if (batch.entries.length === 0 && batch.ack === undefined) {
          batch = undefined;
          continue;
        }
      }
      const current = batch;
      try {
        current.body ??= JSON.stringify({
          seq: current.seq,
          frames: await Promise.all(current.entries.map((entry) => entry.frame)),
          ack: current.ack,
        });
      } catch {
        end(CloseCode.ABNORMAL, 'could not read a Blob', false);
      }
      if (done) break;
      const controller = new AbortController();
      postController = controller;
      const timeout = setTimeout(() => controller.abort(), POST_TIMEOUT);
      let retryAfter: number | undefined;
      answer = fetchImpl(withParams(url, { [FallbackParam.MODE]: FallbackMode.POST }), {
        method: 'POST',
        headers: {
          'Content-Type': 'text/plain;charset=UTF-8',
          [SESSION_HEADER]: session,
          ...(settings.token ? { Authorization: `Bearer ${settings.token()}` } : {}),
        },
        body: current.body,
        signal: controller.signal,
      }).then(
        (response) => {
          void response.body?.cancel().catch(() => {});
          retryAfter = retryAfterOf(response.status, response.headers.get('retry-after'));
          return response.status;
        },
        () => 0,
      );
      const status = await answer;
      clearTimeout(timeout);
      answer = status;
      if (done) break;
      if (status >= 200 && status < 300) {
        batch = undefined;
        failures = 0;
        const close = current.entries.find((entry) => Array.isArray(entry.frame) && entry.frame[0] === 'close');
        if (close) {
          const [, code, reason] = close.frame as ['close', number, string];
          end(code, reason, true);
        }
        continue;
      }
      if (status === HTTP_NOT_FOUND) end(CloseCode.ABNORMAL, 'session expired', false);
      else if (status === HTTP_TOO_LARGE) end(CloseCode.MESSAGE_TOO_BIG, 'message too big', false);
      else if (status === HTTP_BAD_REQUEST) end(CloseCode.PROTOCOL_ERROR, 'POST refused', false);
      else if (isFinalStatus(status)) end(CloseCode.ABNORMAL, `POST answered HTTP ${status}`, false);
      // The app is closing: no retries, the close just isn't clean.
      else if (closing) end(CloseCode.ABNORMAL, 'close frame not delivered', false);
      else {
        const delay = backoffDelay(failures++, backoff);
        await wait(retryAfter === undefined ? delay : retryAfterDelay(retryAfter, delay, backoff));
      }
    }
    posting = false;
  };

  const openTimer = setTimeout(() => end(CloseCode.ABNORMAL, 'no open event', false), settings.openTimeout);
  timers.set(openTimer, () => {});
  void connect();

  return {
    send: (message) => enqueue({ message, frame: toFrame(message), size: frameSize(message) }),
    close: (code, reason) => {
      if (closing) return;
      closing = true;
      enqueue({ frame: ['close', code, reason], size: reason.length });
    },
    abort: () => {
      silent = true;
      stop();
      postController?.abort();
    },
  };
}
