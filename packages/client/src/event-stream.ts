/**
 * An incremental parser for `text/event-stream` (the WHATWG "server-sent events" format). The
 * client reads the stream with fetch instead of EventSource: EventSource can't be used from Node,
 * can't send `Last-Event-ID` on a first request, and retries on its own schedule.
 */

/** One dispatched event. */
export interface ServerSentEvent {
  /** The `event` field, or `'message'`. */
  type: string;
  data: string;
  /** The last event id as of this event. */
  id: string;
}

const LINE_END = /\r\n|\r|\n/g;

/** Turns decoded chunks of a stream into events; one parser per stream. */
export class EventStreamParser {
  /**
   * The id to resume from (`Last-Event-ID`). It changes only when an event is dispatched, so an
   * event cut off mid-way by a dropped stream is asked for again.
   */
  lastEventId: string;
  /** The last valid `retry` field, in ms. */
  retry: number | undefined;
  #idBuffer: string;
  #type = '';
  #data = '';
  /**
   * The start of a line that has not ended yet, in pieces: a message of a megabyte comes in
   * dozens of chunks, and scanning or joining the whole of it again for each chunk is quadratic.
   */
  #pending: string[] = [];
  /** The previous chunk ended in CR, so a LF starting this one belongs to that line end. */
  #afterCR = false;

  /** `lastEventId` carries over from a previous stream of the same session. */
  constructor(lastEventId = '') {
    this.lastEventId = lastEventId;
    this.#idBuffer = lastEventId;
  }

  /** Parses a chunk of decoded text and returns the events it completed. */
  feed(chunk: string): ServerSentEvent[] {
    const events: ServerSentEvent[] = [];
    if (chunk === '') return events;
    const text = this.#afterCR && chunk.startsWith('\n') ? chunk.slice(1) : chunk;
    let start = 0;
    for (const match of text.matchAll(LINE_END)) {
      const piece = text.slice(start, match.index);
      let line = piece;
      if (this.#pending.length > 0) {
        this.#pending.push(piece);
        line = this.#pending.join('');
        this.#pending = [];
      }
      this.#line(line, events);
      start = match.index + match[0].length;
    }
    if (start < text.length) this.#pending.push(text.slice(start));
    // Only a CR that ended a line counts: `text` may be empty after dropping its LF.
    this.#afterCR = text === '' ? false : text.endsWith('\r');
    return events;
  }

  #line(line: string, events: ServerSentEvent[]): void {
    if (line === '') return this.#dispatch(events);
    if (line.startsWith(':')) return;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') this.#type = value;
    else if (field === 'data') this.#data += `${value}\n`;
    else if (field === 'id' && !value.includes('\0')) this.#idBuffer = value;
    else if (field === 'retry' && /^\d+$/.test(value)) this.retry = Number(value);
  }

  #dispatch(events: ServerSentEvent[]): void {
    this.lastEventId = this.#idBuffer;
    if (this.#data !== '')
      events.push({ type: this.#type || 'message', data: this.#data.slice(0, -1), id: this.lastEventId });
    this.#type = '';
    this.#data = '';
  }
}
