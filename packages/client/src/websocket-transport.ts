/**
 * The WebSocket transport, with the liveness check of the fallback protocol: the endpoint
 * answers `__sy=1` with one frame before any of the app's. Some antivirus and security proxies
 * let the 101 through and then drop every frame; a socket that is "open" but silent is taken for
 * one of those.
 */
import { CloseCode } from './close-codes.js';
import { LIVENESS_FRAME } from './protocol.js';
import { retryAfterOf } from './retry-after.js';
import type { Ending, Transport, TransportListener } from './transport.js';

export { LIVENESS_FRAME };

/** What the client needs of a WebSocket: the browser's, undici's or `ws` all fit. */
export interface WebSocketLike {
  readonly protocol: string;
  binaryType: string;
  onopen: ((event: any) => void) | null;
  onmessage: ((event: any) => void) | null;
  onclose: ((event: any) => void) | null;
  onerror: ((event: any) => void) | null;
  send(data: string | ArrayBufferLike | ArrayBufferView | Blob): void;
  close(code?: number, reason?: string): void;
}

/**
 * What `ws` (Node) adds: it shows the HTTP answer to a refused handshake through its
 * `unexpected-response` event. Browsers' and undici's WebSocket show no status at all.
 */
interface UnexpectedResponseEmitter {
  on(
    event: 'unexpected-response',
    listener: (request: unknown, response: { statusCode?: number; headers?: Record<string, unknown> }) => void,
  ): unknown;
  terminate(): void;
}

const isUnexpectedResponseEmitter = (socket: object): socket is UnexpectedResponseEmitter =>
  typeof (socket as Partial<UnexpectedResponseEmitter>).on === 'function' &&
  typeof (socket as Partial<UnexpectedResponseEmitter>).terminate === 'function';

/** A WebSocket class, e.g. `globalThis.WebSocket` or `ws`'s default export. */
export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocketLike;

const failed = (reason: string): Ending => ({
  code: CloseCode.ABNORMAL,
  reason,
  wasClean: false,
  opened: false,
  fatal: false,
  unsent: [],
});

/** How long each step of an attempt may take (ms) before it is abandoned. */
export interface WebSocketTimeouts {
  /** From the start to the 101, at most. */
  handshake: number;
  /**
   * Where the TCP connection can be seen coming up (`ws`, in Node): how long that may take; once
   * it is up, the 101 has the rest of `handshake`. Undefined: `handshake` alone applies.
   */
  connect?: number | undefined;
  /** From the 101 to the liveness frame (sent with it, so only a frame-dropping path delays it). */
  liveness: number;
}

/** A Node `net.Socket`, as far as it shows whether its TCP connection is up. */
interface TcpLike {
  connecting?: boolean;
  once(event: 'connect', listener: () => void): unknown;
}

/** A Node `ClientRequest`, as far as it shows the TCP connection under it. */
interface RequestLike {
  once(event: 'socket', listener: (socket: TcpLike) => void): unknown;
}

/**
 * Whether the kernel has the TCP connection up, whatever the event loop has seen of it: Node's
 * `connecting` turns false only when the process gets round to the connection's completion, and a
 * process busy with thousands of them can be seconds late. `getpeername(2)` answers at once
 * (ENOTCONN while the SYN waits for its answer); libuv's TCP handle, `_handle` (not a documented
 * field), makes that call and returns 0 when it succeeds. False where there is no such handle.
 */
function kernelConnected(tcp: TcpLike): boolean {
  const handle = (tcp as { _handle?: { getpeername?: (out: object) => number } })._handle;
  if (typeof handle?.getpeername !== 'function') return false;
  try {
    return handle.getpeername({}) === 0;
  } catch {
    return false;
  }
}

/**
 * `ws` keeps its handshake's `http.ClientRequest` in `_req` (not a documented field): through it
 * the client sees the TCP connection come up. Anything else (browsers, undici) shows nothing
 * before the 101, and gets undefined.
 */
function handshakeRequest(socket: object): RequestLike | undefined {
  const request = (socket as { _req?: unknown })._req;
  return typeof request === 'object' && request !== null && typeof (request as RequestLike).once === 'function'
    ? (request as RequestLike)
    : undefined;
}

/**
 * Opens `url` and reports `open` only after the liveness frame, which it swallows. The attempt is
 * abandoned when a step takes longer than `timeouts` allows.
 */
export function openWebSocket(
  WebSocketClass: WebSocketConstructor,
  url: string,
  protocols: string[],
  timeouts: WebSocketTimeouts,
  listener: TransportListener,
): Transport {
  let alive = false;
  let done = false;
  let socket: WebSocketLike;
  let timer: ReturnType<typeof setTimeout> | undefined;

  const detach = (): void => {
    done = true;
    clearTimeout(timer);
    socket.onopen = socket.onmessage = socket.onclose = null;
    // `ws` throws an 'error' event that nobody listens to; keep one listener for good.
    socket.onerror = () => {};
  };
  const end = (ending: Ending): void => {
    if (done) return;
    detach();
    listener.end(ending);
  };
  const giveUp = (reason: string): void => {
    end(failed(reason));
    try {
      socket.close();
    } catch {
      // Already closing.
    }
  };

  try {
    socket = new WebSocketClass(url, protocols);
  } catch (error) {
    // A URL or subprotocol the implementation refuses; SSE will meet the server's real answer.
    queueMicrotask(() => listener.end(failed(String((error as Error).message))));
    return { send() {}, close() {}, abort() {} };
  }
  socket.binaryType = 'arraybuffer';
  /** With `ws`: the wait a refused handshake's 503 or 429 asked for. */
  let retryAfter: number | undefined;
  if (isUnexpectedResponseEmitter(socket)) {
    socket.on('unexpected-response', (_request, response) => {
      const header = response.headers?.['retry-after'];
      retryAfter = retryAfterOf(response.statusCode ?? 0, typeof header === 'string' ? header : undefined);
      // With a listener, ws leaves the request to it: end it, and 'close' follows as without one.
      (socket as unknown as UnexpectedResponseEmitter).terminate();
    });
  }
  const started = Date.now();
  /** The 101 came: the handshake's timers are done with. */
  let upgraded = false;
  const request = timeouts.connect === undefined ? undefined : handshakeRequest(socket);
  if (request) {
    // No TCP connection yet: abandoning the attempt costs the server nothing. Once there is one,
    // the server has (or soon will have) the request, and only the overall bound applies. One up
    // in the kernel whose completion the process has not run yet (a busy client) is up too.
    let tcp: TcpLike | undefined;
    const up = (): void => {
      if (done || upgraded) return;
      clearTimeout(timer);
      timer = setTimeout(() => giveUp('no handshake'), Math.max(0, timeouts.handshake - (Date.now() - started)));
    };
    timer = setTimeout(() => (tcp && kernelConnected(tcp) ? up() : giveUp('no connection')), timeouts.connect);
    request.once('socket', (socket) => {
      tcp = socket;
      if (socket.connecting === false) up();
      else socket.once('connect', up);
    });
  } else {
    timer = setTimeout(() => giveUp('no handshake'), timeouts.handshake);
  }
  socket.onopen = () => {
    upgraded = true;
    clearTimeout(timer);
    timer = setTimeout(() => giveUp('no liveness frame'), timeouts.liveness);
  };
  socket.onmessage = (event: { data: string | ArrayBuffer }) => {
    if (!alive) {
      alive = true;
      clearTimeout(timer);
      listener.open(socket.protocol);
      // Any first frame proves the path works; only the liveness frame itself is not the app's.
      if (event.data === LIVENESS_FRAME) return;
    }
    if (!done) listener.message(event.data);
  };
  /** With `ws`: the attempt's connection was refused (its error event carries the system error). */
  let refused = false;
  socket.onclose = (event: { code: number; reason: string; wasClean: boolean }) => {
    end({
      code: event.code,
      reason: event.reason,
      wasClean: event.wasClean,
      opened: alive,
      fatal: false,
      unsent: [],
      retryAfter,
      refused: refused && !alive,
    });
  };
  socket.onerror = (event: { error?: { code?: unknown } } | undefined) => {
    // A 'close' always follows.
    if (!upgraded && event?.error?.code === 'ECONNREFUSED') refused = true;
  };

  return {
    send: (message) => socket.send(message),
    close: (code, reason) => socket.close(code, reason),
    abort: () => {
      if (done) return;
      detach();
      try {
        socket.close();
      } catch {
        // Already closing.
      }
    },
  };
}
