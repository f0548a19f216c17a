/**
 * Load shedding before the 101: a bound on the handshakes an endpoint has in progress, from the
 * request reaching it until the 101 is written (or the SSE session's 200) or the request is
 * answered otherwise. Beyond it, a new handshake gets 503 with `Retry-After` at once, before any
 * hook runs: an overloaded node answers quickly instead of queueing work (and, further back,
 * dropping SYNs from a full listen backlog). One counter per endpoint; a place is given back when
 * the handshake settles, or sooner when its socket closes while it waits (a reset, an error). A
 * client that only half-closes keeps its place until its `upgrade` hook settles: the hook's work
 * goes on, and the bound is on that work.
 */
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';

/**
 * The default `maxPendingHandshakes`. Little's law: handshakes in progress = arrival rate × time
 * each takes. A node completes a few thousand handshakes a second per core; with an `upgrade`
 * hook of 100–200 ms (a token check against a database), 1,024 in progress is the queue such a
 * node drains within its clients' patience, while each waiting handshake holds a socket and its
 * request (about 10–20 KB), so the bound also caps that memory near 20 MB. Without an async hook
 * a handshake completes within a turn or two of the event loop and the count stays near zero.
 */
export const DEFAULT_MAX_PENDING_HANDSHAKES = 1024;

/** The longest `Retry-After` (seconds) a shed handshake is given. */
export const MAX_SHED_RETRY_AFTER = 5;

/** A handshake that waits, with the listener that gives its place back if its client leaves. */
interface Watch {
  socket: Socket;
  released: boolean;
  onClose(): void;
}

/** The handshakes one endpoint has in progress, and the places under `maxPendingHandshakes`. */
export class PendingHandshakes {
  /** The bound; Infinity when off. */
  readonly max: number;
  /** Handshakes in progress now. */
  count = 0;
  /** Handshakes refused by the bound since the endpoint started. */
  shed = 0;
  /** Handshakes that wait (an async hook, a socket on its way), by request. */
  readonly #watched = new Map<IncomingMessage, Watch>();
  /** The second (performance.now() / 1000) the recent sheds were counted in, and how many. */
  #window = -1;
  #inWindow = 0;

  constructor(max: number) {
    this.max = max;
  }

  /** Takes a place for a new handshake; false (and nothing taken) when the endpoint is full. */
  enter(): boolean {
    if (this.count >= this.max) {
      this.shed++;
      return false;
    }
    this.count++;
    return true;
  }

  /**
   * The handshake of `req` waits for something: if its client leaves meanwhile, its place is
   * given back then. Called only where a handshake awaits, so the synchronous path adds no
   * listener.
   */
  watch(req: IncomingMessage): void {
    const socket = req.socket as Socket | null;
    if (!socket || this.#watched.has(req)) return;
    const watch: Watch = {
      socket,
      released: false,
      onClose: () => {
        if (watch.released) return;
        watch.released = true;
        this.count--;
      },
    };
    this.#watched.set(req, watch);
    if (socket.destroyed) watch.onClose();
    else socket.once('close', watch.onClose);
  }

  /** The handshake of `req` settled: its place is free, unless its client's leaving freed it. */
  leave(req: IncomingMessage): void {
    const watch = this.#watched.size === 0 ? undefined : this.#watched.get(req);
    if (watch === undefined) {
      this.count--;
      return;
    }
    this.#watched.delete(req);
    watch.socket.removeListener('close', watch.onClose);
    if (!watch.released) this.count--;
  }

  /**
   * The `Retry-After` (whole seconds) for a handshake shed now: 1 while the overflow is small,
   * spread up to {@link MAX_SHED_RETRY_AFTER} as the sheds of the current second grow past the
   * bound (each multiple of it adds a second to the spread), with full jitter over the spread,
   * so that the clients refused together do not come back together.
   */
  retryAfter(now: number): number {
    const window = Math.floor(now / 1000);
    if (window !== this.#window) {
      this.#window = window;
      this.#inWindow = 0;
    }
    this.#inWindow++;
    const spread = Math.min(MAX_SHED_RETRY_AFTER, 1 + Math.floor(this.#inWindow / this.max));
    return 1 + Math.floor(Math.random() * spread);
  }
}
