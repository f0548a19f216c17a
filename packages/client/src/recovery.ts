/**
 * The client side of resumable connections (the endpoint's `recovery`, on a durable hub). The
 * tracker keeps the session id the server gave and, per topic, the position of the last message
 * received; on a reconnect it is sent as the first message, never in the URL (URLs end up in
 * access logs) and not in a header (browsers cannot set WebSocket headers).
 *
 * Server frames that start with U+0000 `sy:` are the protocol's, not the app's (recovery.ts in
 * @switchyard/core describes them; protocol.ts names them).
 */
import { RecoveryWire } from './protocol.js';

/** A topic whose missed messages could not be replayed, and why. */
export interface UnrecoverableTopic {
  topic: string;
  /** `'expired'` (the session is unknown or older than `maxDisconnectionDuration`), `'reset'` (the stream was lost), `'trimmed'` (past `maxLen`/`ttl`), `'too-far-behind'` (more than `maxReplay`). */
  reason: string;
}

type Position = [id: string, epoch: string, count: number];

const PREFIX = RecoveryWire.CONTROL;
/** What a resume message starts with; on the SSE fallback the header carries what follows. */
export const RESUME_PREFIX = RecoveryWire.RESUME;
const MESSAGE = RecoveryWire.MESSAGE;
const MESSAGE_BYTES = [...new TextEncoder().encode(MESSAGE)];

/** What a server frame turned out to be. */
export type Received =
  | { kind: 'message'; data: string | ArrayBuffer }
  | { kind: 'session'; recovered: boolean; unrecoverable: UnrecoverableTopic[] }
  | { kind: 'unrecoverable'; unrecoverable: UnrecoverableTopic[] }
  | { kind: 'none' };

function isPosition(value: unknown): value is Position {
  return (
    Array.isArray(value) &&
    typeof value[0] === 'string' &&
    typeof value[1] === 'string' &&
    Number.isSafeInteger(value[2])
  );
}

export class RecoveryTracker {
  #session: string | null = null;
  readonly #positions = new Map<string, Position>();

  /** Positions sent in the last token that no session frame has answered yet. */
  #offered = new Map<string, Position>();

  /**
   * The resume message for the next connection. Its positions are set aside: the server
   * reports where each subscription of the new connection stands, resumed or not.
   */
  token(): string {
    const positions = new Map([...this.#offered, ...this.#positions]);
    this.#offered = new Map(positions);
    this.#positions.clear();
    return `${RESUME_PREFIX}${JSON.stringify({ s: this.#session, p: Object.fromEntries(positions) })}`;
  }

  /** Reads one server frame: a protocol frame updates the state; an app message is returned unwrapped. */
  receive(data: string | ArrayBuffer): Received {
    if (typeof data === 'string') {
      if (!data.startsWith(PREFIX)) return { kind: 'message', data };
      if (data.startsWith(MESSAGE)) {
        const newline = data.indexOf('\n');
        if (newline === -1) return { kind: 'message', data };
        this.#note(data.slice(MESSAGE.length, newline));
        return { kind: 'message', data: data.slice(newline + 1) };
      }
      return this.#control(data.slice(PREFIX.length));
    }
    const bytes = new Uint8Array(data);
    if (!MESSAGE_BYTES.every((byte, i) => bytes[i] === byte)) return { kind: 'message', data };
    const newline = bytes.indexOf(10);
    if (newline === -1) return { kind: 'message', data };
    this.#note(new TextDecoder().decode(bytes.subarray(MESSAGE_BYTES.length, newline)));
    return { kind: 'message', data: data.slice(newline + 1) };
  }

  #set(topic: string, position: Position): void {
    this.#positions.set(topic, position);
    this.#offered.delete(topic);
  }

  #note(header: string): void {
    try {
      const [topic, id, epoch, count] = JSON.parse(header) as [string, string, string, number];
      const position: unknown = [id, epoch, count];
      if (typeof topic === 'string' && isPosition(position)) this.#set(topic, position);
    } catch {
      // Not ours after all; the message still goes to the app.
    }
  }

  #control(text: string): Received {
    const brace = text.indexOf('{');
    const kind = text.slice(0, brace);
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(text.slice(brace)) as Record<string, unknown>;
    } catch {
      return { kind: 'none' };
    }
    const topic = typeof body.topic === 'string' ? body.topic : undefined;
    const position: unknown = [body.id, body.epoch, body.count];
    switch (kind) {
      case 'session': {
        this.#session = typeof body.id === 'string' ? body.id : null;
        const unrecoverable = (Array.isArray(body.unrecoverable) ? (body.unrecoverable as unknown[]) : [])
          .filter(
            (item): item is UnrecoverableTopic =>
              item !== null && typeof item === 'object' && typeof (item as UnrecoverableTopic).topic === 'string',
          )
          .map(({ topic, reason }) => ({ topic, reason: String(reason) }));
        // A resumed session keeps the offered positions until the server reports newer ones: a
        // connection lost in the middle of a replay resumes from what it got. A session that
        // did not resume makes them stale.
        if (body.recovered !== true) this.#offered.clear();
        return { kind: 'session', recovered: body.recovered === true, unrecoverable };
      }
      case 'position':
        if (topic !== undefined && isPosition(position)) this.#set(topic, position);
        return { kind: 'none' };
      case 'unrecoverable':
        if (topic === undefined) return { kind: 'none' };
        if (isPosition(position)) this.#set(topic, position);
        return { kind: 'unrecoverable', unrecoverable: [{ topic, reason: String(body.reason) }] };
      case 'off':
        if (topic !== undefined) {
          this.#positions.delete(topic);
          this.#offered.delete(topic);
        }
        return { kind: 'none' };
      default:
        return { kind: 'none' };
    }
  }
}
