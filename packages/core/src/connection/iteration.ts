/**
 * `for await (const { data, isBinary } of ws)`: a queue between the socket and the loop that
 * stops reading from the socket while the loop is behind, so a slow consumer pushes back on the
 * client (TCP flow control, or a held POST on the SSE fallback) instead of growing memory.
 */

/** One message as the loop sees it. */
export interface IncomingMessage<Data = string | Buffer> {
  data: Data;
  isBinary: boolean;
}

/** The side of a connection a queue pauses and resumes, and tells when the loop stops. */
export interface ReadControl {
  pauseReading(): void;
  resumeReading(): void;
  /** The loop ended early (`break`, `return`, a throw): messages go to the hooks again. */
  detached(): void;
}

/** Queued messages above which reading pauses, whatever their size. */
const MAX_QUEUED_MESSAGES = 16;

/** The async iterator behind a connection's `for await`. */
export class MessageQueue<Data = string | Buffer> implements AsyncIterableIterator<IncomingMessage<Data>> {
  readonly #control: ReadControl;
  readonly #highWaterMark: number;
  #items: Array<{ message: IncomingMessage<Data>; size: number }> = [];
  #bytes = 0;
  /** next() calls waiting for a message: one for `for await`, more if called by hand. */
  #waiters: Array<(result: IteratorResult<IncomingMessage<Data>>) => void> = [];
  #ended = false;
  #paused = false;

  constructor(control: ReadControl, highWaterMark: number) {
    this.#control = control;
    this.#highWaterMark = highWaterMark;
  }

  /** True while reading is paused for this loop. */
  get paused(): boolean {
    return this.#paused;
  }

  /** Messages waiting for the loop. */
  get length(): number {
    return this.#items.length;
  }

  /** Hands a message to the loop, or queues it (and pauses reading when the queue is full). */
  push(data: Data, isBinary: boolean, size: number): void {
    if (this.#ended) return;
    const waiter = this.#waiters.shift();
    if (waiter) {
      waiter({ value: { data, isBinary }, done: false });
      return;
    }
    this.#items.push({ message: { data, isBinary }, size });
    this.#bytes += size;
    if (!this.#paused && (this.#items.length >= MAX_QUEUED_MESSAGES || this.#bytes >= this.#highWaterMark)) {
      this.#paused = true;
      this.#control.pauseReading();
    }
  }

  /** The connection closed: the loop gets what is queued, then ends. */
  end(): void {
    this.#ended = true;
    // Waiters exist only while nothing is queued.
    for (const waiter of this.#waiters.splice(0)) waiter({ value: undefined, done: true });
  }

  next(): Promise<IteratorResult<IncomingMessage<Data>>> {
    const item = this.#items.shift();
    if (item) {
      this.#bytes -= item.size;
      // Resume at half, not just below the mark, so that pause and resume don't alternate per message.
      if (this.#paused && this.#items.length <= MAX_QUEUED_MESSAGES / 2 && this.#bytes <= this.#highWaterMark / 2) {
        this.#paused = false;
        this.#control.resumeReading();
      }
      return Promise.resolve({ value: item.message, done: false });
    }
    if (this.#ended) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve) => {
      this.#waiters.push(resolve);
    });
  }

  return(): Promise<IteratorResult<IncomingMessage<Data>>> {
    const wasPaused = this.#paused;
    this.#ended = true;
    this.#paused = false;
    this.#items = [];
    this.#bytes = 0;
    for (const waiter of this.#waiters.splice(0)) waiter({ value: undefined, done: true });
    this.#control.detached();
    if (wasPaused) this.#control.resumeReading();
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}
