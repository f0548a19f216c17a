/**
 * A fallback session's replay buffer: every event gets the next id, and the events the client
 * has not acknowledged are kept, within a count and a byte budget, so that a stream that
 * reconnects with `Last-Event-ID` misses nothing, or learns that it would.
 */
import type { ResolvedFallbackOptions } from './settings.js';
import { encodeEvent } from './sse-stream.js';

/** One numbered event, as written on the stream. */
export interface ReplayEvent {
  readonly id: number;
  readonly text: string;
  /** `text` in UTF-8 bytes: what the replay budget counts. */
  readonly bytes: number;
}

/** The numbered events of one session, oldest first, within the `replay`/`replayBytes` budget. */
export class ReplayBuffer {
  readonly #options: Pick<ResolvedFallbackOptions, 'replay' | 'replayBytes'>;
  #seq = 0;
  /** Events the client has not acknowledged yet, oldest first, within the replay budget. */
  #events: ReplayEvent[] = [];
  #bytes = 0;
  /** Events up to this id are no longer kept (acknowledged, or dropped for the budget). */
  #keptAfter = 0;

  constructor(options: Pick<ResolvedFallbackOptions, 'replay' | 'replayBytes'>) {
    this.#options = options;
  }

  /** Bytes of events held for replay. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Numbers a new event and keeps it, dropping the oldest ones beyond the budget. */
  push(event: string, data: string): ReplayEvent {
    const id = ++this.#seq;
    const text = encodeEvent(id, event, data);
    const kept: ReplayEvent = { id, text, bytes: Buffer.byteLength(text) };
    const events = this.#events;
    events.push(kept);
    this.#bytes += kept.bytes;
    const { replay, replayBytes } = this.#options;
    if (events.length > replay || this.#bytes > replayBytes) {
      // Oldest first, until the rest fits; a single event larger than the budget is not kept.
      let count = 0;
      while (count < events.length && (events.length - count > replay || this.#bytes > replayBytes)) {
        this.#bytes -= events[count]!.bytes;
        this.#keptAfter = events[count]!.id;
        count++;
      }
      events.splice(0, count);
    }
    return kept;
  }

  /** The text of every kept event, oldest first: what a (re)attached stream is sent. */
  text(): string {
    let text = '';
    for (const event of this.#events) text += event.text;
    return text;
  }

  /** True when every event after `lastEventId` is still kept. */
  canReplayFrom(lastEventId: number | undefined): boolean {
    const from = lastEventId ?? 0;
    return from >= this.#keptAfter && from <= this.#seq;
  }

  /** The client has every event up to `lastEventId`: they need not be kept. */
  acknowledge(lastEventId: number): void {
    const upTo = Math.min(lastEventId, this.#seq);
    if (upTo <= this.#keptAfter) return;
    this.#keptAfter = upTo;
    let count = 0;
    for (const event of this.#events) {
      if (event.id > upTo) break;
      this.#bytes -= event.bytes;
      count++;
    }
    if (count > 0) this.#events.splice(0, count);
  }

  /** Drops every kept event (the session ended). */
  clear(): void {
    this.#events = [];
    this.#bytes = 0;
  }
}
