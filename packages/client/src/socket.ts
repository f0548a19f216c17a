/**
 * The socket the app holds. It outlives its transports: it picks one, queues what the app sends
 * until one is open, and reconnects with backoff when a connection fails for a transient reason.
 */
import { toBase64url } from './base64.js';
import { DEFAULT_RECONNECT, backoffDelay, retryAfterDelay, spreadDelay } from './backoff.js';
import { CloseCode, isMassClose, isTransient } from './close-codes.js';
import { ErrorCode, codedTypeError } from './errors.js';
import { CloseEvent } from './events.js';
import type { SocketMessageEvent } from './events.js';
import { resolveOptions } from './options.js';
import type { ConnectOptions, Settings } from './options.js';
import { openEventStream } from './sse-transport.js';
import type { Ending, Outgoing, Transport, TransportListener, TransportName } from './transport.js';
import { choiceKey, endpointUrls, withParams } from './url.js';
import type { EndpointUrls } from './url.js';
import { RESUME_PREFIX, RecoveryTracker } from './recovery.js';
import type { UnrecoverableTopic } from './recovery.js';
import { openWebSocket } from './websocket-transport.js';
import type { WebSocketConstructor } from './websocket-transport.js';
import { RecoveryWire } from './protocol.js';
import { RttEstimator } from './rtt.js';

/** The events of a {@link SwitchyardSocket}. */
export interface SwitchyardSocketEventMap {
  open: Event;
  message: SocketMessageEvent;
  close: CloseEvent;
  error: Event;
  /** With `recover`: messages missed while away could not be replayed for these topics. */
  unrecoverable: UnrecoverableEvent;
}

/** The `unrecoverable` event: the topics with a gap, and why; the app decides (refetch, reload). */
export class UnrecoverableEvent extends Event {
  constructor(readonly topics: UnrecoverableTopic[]) {
    super('unrecoverable');
  }
}

type Handler<K extends keyof SwitchyardSocketEventMap> =
  | ((this: SwitchyardSocket, event: SwitchyardSocketEventMap[K]) => unknown)
  | null;

/**
 * How long a reconnect over a transport that already worked waits for its TCP connection, at
 * least (ms). A node that every client comes back to at once overflows its listen queue and
 * drops SYNs; the kernel sends them again 1, 3 and 7 s after the first (Linux's initial RTO of
 * 1 s, doubling). Waiting past the third keeps the attempt's place in that line, instead of
 * giving it up at `livenessTimeout` and backing off further while nothing was wrong but the
 * queue (at 10,000 clients, 5.8 attempts per client and a tail of two minutes in bench/resume.mjs).
 */
const SYN_PATIENCE = 7500;

/** The browser globals the client uses when they exist; Node has none of them. */
const browser = globalThis as {
  location?: { href: string };
  sessionStorage?: { getItem(key: string): string | null; setItem(key: string, value: string): void };
};

/** A listener's options, as `addEventListener` takes them. */
type ListenerOptions = boolean | { capture?: boolean; once?: boolean; passive?: boolean; signal?: AbortSignal };
type AnyListener = ((event: Event) => unknown) | { handleEvent(event: Event): unknown } | null;

/**
 * Endpoints where the WebSocket didn't get through, per WebSocket class, for the rest of the page
 * session. Keyed by the class so that an app (or a test) that brings another implementation
 * starts over.
 */
const blocked = new WeakMap<WebSocketConstructor, Set<string>>();

function remembersSse(WebSocketClass: WebSocketConstructor, key: string): boolean {
  if (blocked.get(WebSocketClass)?.has(key)) return true;
  try {
    return browser.sessionStorage?.getItem(key) === 'sse';
  } catch {
    // Storage disabled (privacy settings, sandboxed frames).
    return false;
  }
}

function rememberSse(WebSocketClass: WebSocketConstructor, key: string): void {
  let keys = blocked.get(WebSocketClass);
  if (!keys) blocked.set(WebSocketClass, (keys = new Set()));
  keys.add(key);
  try {
    browser.sessionStorage?.setItem(key, 'sse');
  } catch {
    // Storage full or disabled; the in-memory record still holds.
  }
}

/** Copies what the app passed, so that it may reuse its buffer once `send()` returns. */
function toOutgoing(data: unknown): Outgoing {
  if (typeof data === 'string') return data;
  if (data instanceof ArrayBuffer) return new Uint8Array(data.slice(0));
  if (ArrayBuffer.isView(data))
    return new Uint8Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength));
  if (typeof Blob !== 'undefined' && data instanceof Blob) return data;
  throw codedTypeError('send() takes a string, an ArrayBuffer, an ArrayBufferView or a Blob', ErrorCode.INVALID_DATA);
}

/** The UTF-8 length of a string, without TextEncoder's allocation. */
const utf8Length = (text: string): number => encodeURIComponent(text).replace(/%[0-9A-F]{2}/g, ' ').length;

const MAX_REASON_BYTES = 123;

/** A WebSocket-like connection that falls back to SSE + POST and reconnects. */
// biome-ignore lint/suspicious/noUnsafeDeclarationMerging: the interface of the same name types its event listeners
export class SwitchyardSocket extends EventTarget {
  /** `readyState` while connecting, and while reconnecting. */
  static readonly CONNECTING = 0;
  /** `readyState` while messages flow. */
  static readonly OPEN = 1;
  /** `readyState` after `close()`, until the close event. */
  static readonly CLOSING = 2;
  /** `readyState` for good: no reconnection follows. */
  static readonly CLOSED = 3;
  /** See {@link SwitchyardSocket.CONNECTING}. */
  readonly CONNECTING = 0;
  /** See {@link SwitchyardSocket.OPEN}. */
  readonly OPEN = 1;
  /** See {@link SwitchyardSocket.CLOSING}. */
  readonly CLOSING = 2;
  /** See {@link SwitchyardSocket.CLOSED}. */
  readonly CLOSED = 3;

  /** The URL the app passed. */
  readonly url: string;
  readonly #settings: Settings;
  readonly #urls: EndpointUrls;
  #readyState: number = SwitchyardSocket.CONNECTING;
  #protocol = '';
  #transportName: TransportName = 'websocket';
  #transport: Transport | undefined;
  /** What the app sent while no transport was open, oldest first. */
  #queue: Outgoing[] = [];
  /** Retries since the last open. */
  #retries = 0;
  #retryTimer: ReturnType<typeof setTimeout> | undefined;
  readonly #handlers: { [K in keyof SwitchyardSocketEventMap]?: Handler<K> } = {};
  /** With `recover`: the session and the position of every topic. */
  readonly #recovery: RecoveryTracker | undefined;
  #recovered = false;
  #resumable = false;
  /**
   * With `recover`, from the transport's open until the server's session frame: what arrived
   * meanwhile, to dispatch after `open`, so that `recovered` is already true in `open` on a
   * connection that resumed. Undefined otherwise.
   */
  #beforeSession: Event[] | undefined;
  #sessionTimer: ReturnType<typeof setTimeout> | undefined;
  /** The transports that opened on this socket: the path carries them, so a slow attempt is the server. */
  readonly #worked = new Set<TransportName>();
  /** With `recover`: a session frame came on an earlier connection, so the endpoint sends them. */
  #sessionSeen = false;
  /** How long this socket's handshakes took, for the adaptive timeout. */
  readonly #rtt = new RttEstimator();
  /** When the current transport's attempt started (Date.now()). */
  #attemptStarted = 0;
  /** When the last open connection was lost (Date.now()), until the next one opens. */
  #lostAt: number | undefined;

  /** Prefer {@link connect}. */
  constructor(url: string | URL, options: ConnectOptions = {}) {
    super();
    this.#settings = resolveOptions(options);
    this.#urls = endpointUrls(url, browser.location?.href);
    this.url = String(url);
    if (this.#settings.recover) this.#recovery = new RecoveryTracker();
    this.#attempt();
  }

  /** CONNECTING (also while reconnecting), OPEN, CLOSING or CLOSED. */
  get readyState(): number {
    return this.#readyState;
  }

  /** The subprotocol the server selected, or `''`. */
  get protocol(): string {
    return this.#protocol;
  }

  /** With `recover`: whether the current connection resumed the previous one's session. */
  get recovered(): boolean {
    return this.#recovered;
  }

  /**
   * With `recover`: the server's session frame arrived on the current connection, so the
   * client holds what it needs to resume (positions of the topics subscribed in `open`, their
   * replay done). A connection lost before that resumes from the previous session's state.
   */
  get resumable(): boolean {
    return this.#resumable;
  }

  /** The transport in use, or being tried. */
  get transport(): TransportName {
    return this.#transportName;
  }

  /**
   * Sends a string as text, anything binary as binary. Before the connection is open, and while
   * it reconnects, messages wait in a queue and go out in order once it is. After `close()` they
   * are discarded, as by a WebSocket.
   */
  send(data: string | ArrayBuffer | ArrayBufferView | Blob): void {
    const message = toOutgoing(data);
    if (this.#readyState === SwitchyardSocket.OPEN) this.#transport!.send(message);
    else if (this.#readyState === SwitchyardSocket.CONNECTING) this.#queue.push(message);
  }

  /**
   * Closes for good; there is no reconnection after it. Before the connection is open it gives up
   * at once, queued messages included.
   */
  close(code: number = CloseCode.NORMAL, reason = ''): void {
    if (code !== CloseCode.NORMAL && !(Number.isInteger(code) && code >= 3000 && code <= 4999)) {
      throw codedTypeError('close(): the code must be 1000 or from 3000 to 4999', ErrorCode.INVALID_CLOSE);
    }
    if (utf8Length(reason) > MAX_REASON_BYTES)
      throw codedTypeError('close(): the reason must be at most 123 bytes of UTF-8', ErrorCode.INVALID_CLOSE);
    if (this.#readyState === SwitchyardSocket.OPEN) {
      this.#readyState = SwitchyardSocket.CLOSING;
      this.#transport!.close(code, reason);
    } else if (this.#readyState === SwitchyardSocket.CONNECTING) {
      clearTimeout(this.#retryTimer);
      this.#dropUnannounced();
      this.#transport?.abort();
      this.#transport = undefined;
      this.#queue = [];
      this.#readyState = SwitchyardSocket.CLOSED;
      // Asynchronously, as a WebSocket closed while connecting reports it.
      queueMicrotask(() => this.dispatchEvent(new CloseEvent('close', { code, reason })));
    }
  }

  /** `livenessTimeout`, lengthened by the handshakes measured so far (never past `handshakeTimeout`). */
  #adaptiveTimeout(): number {
    return this.#rtt.timeout(this.#settings.livenessTimeout, this.#settings.handshakeTimeout);
  }

  #attempt(): void {
    const { transports, WebSocket: WebSocketClass } = this.#settings;
    const useWebSocket =
      WebSocketClass !== undefined &&
      transports[0] === 'websocket' &&
      !(transports.includes('sse') && remembersSse(WebSocketClass, choiceKey(this.#urls.http)));
    if (useWebSocket) this.#tryWebSocket(WebSocketClass);
    else if (transports.includes('sse')) this.#trySse(false);
    else
      queueMicrotask(() =>
        this.#failed({
          code: CloseCode.ABNORMAL,
          reason: 'no WebSocket class',
          wasClean: false,
          opened: false,
          fatal: true,
          unsent: [],
        }),
      );
  }

  #tryWebSocket(WebSocketClass: WebSocketConstructor): void {
    this.#attemptStarted = Date.now();
    this.#transportName = 'websocket';
    // `__sy=1` asks the endpoint for the liveness frame; plain clients never see it.
    // `__sy_resume=1` only says that the first message is a resume token; the token itself
    // never goes in the URL.
    const url = withParams(this.#urls.websocket, {
      __sy: '1',
      [RecoveryWire.RESUME_PARAM]: this.#recovery ? '1' : undefined,
    });
    const { token } = this.#settings;
    const protocols = token
      ? [...this.#settings.protocols, `base64url.bearer.${toBase64url(token())}`]
      : this.#settings.protocols;
    this.#transport = openWebSocket(
      WebSocketClass,
      url,
      protocols,
      this.#webSocketTimeouts(),
      this.#listener((ending) => {
        if (ending.opened) this.#ended(ending);
        // The server itself answered "later" (503 or 429 with Retry-After): WebSockets get
        // through, so no fallback; the next attempt waits as asked. Nor after a refused
        // connection: nothing listens on the port, which the fallback's requests share.
        else if (ending.retryAfter !== undefined || ending.refused) this.#failed(ending);
        // The handshake failed or the path is silent: fall back, if allowed.
        else if (this.#settings.transports.includes('sse')) this.#trySse(true);
        else this.#failed(ending);
      }),
    );
  }

  /**
   * A first WebSocket must prove itself within the (adaptive) liveness timeout, or the client
   * falls back to SSE. Once one has opened, the path carries WebSockets: a reconnect that is slow
   * is a busy server, and abandoning it would only add a handshake for the server to serve. So it
   * waits up to `handshakeTimeout`, and, where the TCP connection can be seen, gives up early only
   * on a connection that does not come up within the adaptive timeout or {@link SYN_PATIENCE},
   * whichever is longer.
   */
  #webSocketTimeouts() {
    const adaptive = this.#adaptiveTimeout();
    const { handshakeTimeout } = this.#settings;
    return this.#worked.has('websocket')
      ? {
          handshake: handshakeTimeout,
          connect: Math.min(handshakeTimeout, Math.max(adaptive, SYN_PATIENCE)),
          liveness: adaptive,
        }
      : { handshake: adaptive, liveness: adaptive };
  }

  #trySse(afterWebSocket: boolean): void {
    const { protocols, fetch: fetchImpl, reconnect, WebSocket: WebSocketClass, token } = this.#settings;
    this.#transportName = 'sse';
    // Measured from here: a WebSocket that failed before is not part of this handshake.
    this.#attemptStarted = Date.now();
    const listener = this.#listener((ending) => (ending.opened ? this.#ended(ending) : this.#failed(ending)));
    this.#transport = openEventStream(
      {
        url: this.#urls.http,
        protocols,
        fetch: fetchImpl,
        // As for the WebSocket: a stream that opened before is waited for up to handshakeTimeout.
        openTimeout: this.#worked.has('sse') ? this.#settings.handshakeTimeout : this.#adaptiveTimeout(),
        backoff: reconnect || DEFAULT_RECONNECT,
        token,
        resume: this.#recovery && (() => toBase64url(this.#recovery!.token().slice(RESUME_PREFIX.length))),
      },
      {
        ...listener,
        open: (protocol) => {
          // Remembered only when no WebSocket ever opened on this socket: one that did proves the
          // path carries them, and its failure now was the server's (restarting, shedding load),
          // so the next reconnect tries a WebSocket again instead of staying on SSE for good.
          if (afterWebSocket && WebSocketClass && !this.#worked.has('websocket'))
            rememberSse(WebSocketClass, choiceKey(this.#urls.http));
          listener.open(protocol);
        },
      },
    );
  }

  #listener(end: (ending: Ending) => void): TransportListener {
    return {
      open: (protocol) => this.#opened(protocol),
      message: (data) => {
        const received = this.#recovery ? this.#recovery.receive(data) : { kind: 'message' as const, data };
        if (received.kind === 'message') this.#dispatch(new MessageEvent('message', { data: received.data }));
        else if (received.kind === 'session') {
          // A resume counts as a success once its session frame came: a server that closed it
          // before (1013, its store failed after the 101) refused it, and the backoff goes on.
          this.#retries = 0;
          this.#sessionSeen = true;
          this.#recovered = received.recovered;
          this.#resumable = true;
          if (received.unrecoverable.length > 0) this.#dispatch(new UnrecoverableEvent(received.unrecoverable));
          if (this.#beforeSession) this.#announce();
        } else if (received.kind === 'unrecoverable') this.#dispatch(new UnrecoverableEvent(received.unrecoverable));
      },
      end: (ending) => {
        this.#transport = undefined;
        end(ending);
      },
    };
  }

  #opened(protocol: string): void {
    this.#rtt.sample(Date.now() - this.#attemptStarted);
    this.#worked.add(this.#transportName);
    this.#protocol = protocol;
    this.#recovered = false;
    this.#resumable = false;
    // The endpoint reads the resume token before anything else the app sends.
    if (this.#recovery && this.#transportName === 'websocket') this.#transport!.send(this.#recovery.token());
    for (const message of this.#queue.splice(0)) this.#transport!.send(message);
    if (!this.#recovery) return this.#announce();
    // `open` waits for the session frame, which says whether the session resumed; a server
    // that sends none (an endpoint without `recovery`) gets `open` after livenessTimeout. An
    // endpoint that sent one before does have recovery: a slow one (a node that many clients
    // resume on at once) is waited for up to handshakeTimeout.
    this.#beforeSession = [];
    const wait = this.#sessionSeen ? this.#settings.handshakeTimeout : this.#adaptiveTimeout();
    this.#sessionTimer = setTimeout(() => this.#announce(), wait);
  }

  /** The connection is open for the app: `open`, then what arrived before the session frame. */
  #announce(): void {
    clearTimeout(this.#sessionTimer);
    const held = this.#beforeSession ?? [];
    this.#beforeSession = undefined;
    this.#retries = 0;
    this.#lostAt = undefined;
    // What the app sent while the session frame was awaited, behind what #opened sent.
    for (const message of this.#queue.splice(0)) this.#transport!.send(message);
    this.#readyState = SwitchyardSocket.OPEN;
    this.dispatchEvent(new Event('open'));
    for (const event of held) this.dispatchEvent(event);
  }

  /** Dispatches now, or after `open` while the session frame is awaited. */
  #dispatch(event: Event): void {
    if (this.#beforeSession) this.#beforeSession.push(event);
    else this.dispatchEvent(event);
  }

  /** Forgets a connection the app never saw open. */
  #dropUnannounced(): void {
    clearTimeout(this.#sessionTimer);
    this.#beforeSession = undefined;
  }

  /** An open connection ended. */
  #ended(ending: Ending): void {
    if (this.#beforeSession) {
      // Lost before the session frame: to the app, an attempt that failed.
      this.#dropUnannounced();
      this.#queue.unshift(...ending.unsent);
      return this.#failed(ending);
    }
    const again = this.#readyState === SwitchyardSocket.OPEN && isTransient(ending.code) && this.#canRetry();
    if (again) this.#queue.unshift(...ending.unsent);
    this.#readyState = again ? SwitchyardSocket.CONNECTING : SwitchyardSocket.CLOSED;
    this.dispatchEvent(
      new CloseEvent('close', {
        code: ending.code,
        reason: ending.reason,
        wasClean: ending.wasClean,
        willReconnect: again,
      }),
    );
    if (!again) return;
    this.#lostAt ??= Date.now();
    // A close that every client of a server gets at once: the first retry is spread over a window.
    this.#retry(undefined, isMassClose(ending.code));
  }

  /** An attempt failed before it opened. */
  #failed(ending: Ending): void {
    this.dispatchEvent(new Event('error'));
    if (!ending.fatal && this.#canRetry()) return this.#retry(ending.retryAfter, false, ending.refused === true);
    this.#readyState = SwitchyardSocket.CLOSED;
    this.#queue = [];
    this.dispatchEvent(new CloseEvent('close', { code: CloseCode.ABNORMAL, reason: ending.reason }));
  }

  #canRetry(): boolean {
    const { reconnect } = this.#settings;
    return reconnect !== false && this.#retries < reconnect.maxRetries;
  }

  /**
   * Schedules the next attempt: the backoff (or, after a mass close, the spread window), or longer
   * when the server asked (`retryAfter` ms).
   *
   * An attempt refused outright (nothing listens: the node is restarting, or crashed and its
   * replacement is not up yet) within `spread` ms of losing an open connection does not grow the
   * backoff: a refused connection costs the server nothing, and the next retry is drawn below the
   * first ceiling again, so the client is back within `initialDelay` of the node listening,
   * instead of waiting out a ceiling that doubled while nothing was there to serve it. The retries
   * stay spread (full jitter), and after the window the backoff grows as before.
   */
  #retry(retryAfter?: number, spread = false, refused = false): void {
    const settings = this.#settings.reconnect || DEFAULT_RECONNECT;
    const restarting = refused && this.#lostAt !== undefined && Date.now() - this.#lostAt < settings.spread;
    const attempt = restarting ? 0 : this.#retries++;
    const backoff = spread && attempt === 0 ? spreadDelay(settings) : backoffDelay(attempt, settings);
    const delay = retryAfter === undefined ? backoff : retryAfterDelay(retryAfter, backoff, settings);
    this.#retryTimer = setTimeout(() => this.#attempt(), delay);
  }

  /** Called for `open` events; set to null to remove. */
  get onopen(): Handler<'open'> {
    return this.#handlers.open ?? null;
  }
  set onopen(handler: Handler<'open'>) {
    this.#setHandler('open', handler);
  }
  /** Called for `message` events; `event.data` is a string or an ArrayBuffer. */
  get onmessage(): Handler<'message'> {
    return this.#handlers.message ?? null;
  }
  set onmessage(handler: Handler<'message'>) {
    this.#setHandler('message', handler);
  }
  /** Called for `close` events. */
  get onclose(): Handler<'close'> {
    return this.#handlers.close ?? null;
  }
  set onclose(handler: Handler<'close'>) {
    this.#setHandler('close', handler);
  }
  /** Called for `error` events: an attempt to connect failed. */
  get onerror(): Handler<'error'> {
    return this.#handlers.error ?? null;
  }
  set onerror(handler: Handler<'error'>) {
    this.#setHandler('error', handler);
  }

  #setHandler<K extends keyof SwitchyardSocketEventMap>(type: K, handler: Handler<K>): void {
    // One listener per type, added on first use, keeps the handler's place among listeners.
    if (!(type in this.#handlers)) {
      this.addEventListener(type, (event) =>
        (this.#handlers[type] as Handler<K>)?.call(this, event as SwitchyardSocketEventMap[K]),
      );
    }
    (this.#handlers as Record<K, Handler<K>>)[type] = typeof handler === 'function' ? handler : null;
  }
}

export interface SwitchyardSocket {
  addEventListener<K extends keyof SwitchyardSocketEventMap>(
    type: K,
    listener: (this: SwitchyardSocket, event: SwitchyardSocketEventMap[K]) => unknown,
    options?: ListenerOptions,
  ): void;
  addEventListener(type: string, listener: AnyListener, options?: ListenerOptions): void;
  removeEventListener<K extends keyof SwitchyardSocketEventMap>(
    type: K,
    listener: (this: SwitchyardSocket, event: SwitchyardSocketEventMap[K]) => unknown,
    options?: ListenerOptions,
  ): void;
  removeEventListener(type: string, listener: AnyListener, options?: ListenerOptions): void;
}

/** Opens a connection to a switchyard endpoint: `connect('/chat', { protocols: ['chat'] })`. */
export function connect(url: string | URL, options?: ConnectOptions): SwitchyardSocket {
  return new SwitchyardSocket(url, options);
}
