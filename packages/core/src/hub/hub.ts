/**
 * Topics and broadcast. A hub maps topics to the connections subscribed on this process, and
 * fans a publish out to them with the frame built once: the same bytes go to every socket,
 * instead of N `send` calls that each encode and frame the message again.
 *
 * The in-process hub is the default. A distributed hub (see `@switchyard/redis`) extends it:
 * it overrides `topicOpened`, `topicClosed` and `forward`, and calls `deliver` for messages
 * that other nodes published.
 */
import { Buffer } from 'node:buffer';
import { EventEmitter } from 'node:events';
import type { Connection } from '../connection/connection.js';
import type { SendData } from '../connection/connection.js';
import { frameMessage } from '../internals/ws.js';
import type { DurableEntry, EnvelopeCache } from './durable.js';

/** Counts for leak checks and dashboards. */
export interface HubStats {
  /** Topics with at least one local subscriber. */
  topics: number;
  /** Local (connection, topic) subscriptions. */
  subscriptions: number;
}

/** What a distributed hub's outage cost, reported when it ends. */
export interface HubOutage {
  /** When the first failure was seen (ms since the epoch). */
  since: number;
  /** How long the backend was unreachable, in ms. */
  duration: number;
  /** Publishes that rejected during the outage (their local delivery happened). */
  failedPublishes: number;
  /** Other failures during the outage: reconnection attempts, subscriptions. */
  errors: number;
}

/** Events a hub emits. */
export interface HubEvents {
  /**
   * A distributed hub failed to reach its backend; local delivery went on. An outage is
   * reported once, as it starts; `recovered` follows when it ends.
   */
  error: [error: Error];
  /** A distributed hub reaches its backend again after an outage, with what it cost. */
  recovered: [outage: HubOutage];
}

/** Turns what `send` accepts into a payload and its type. */
export function toPayload(data: SendData): [payload: string | Buffer, isBinary: boolean] {
  if (typeof data === 'string') return [data, false];
  if (Buffer.isBuffer(data)) return [data, true];
  if (ArrayBuffer.isView(data)) return [Buffer.from(data.buffer, data.byteOffset, data.byteLength), true];
  return [Buffer.from(data), true];
}

/**
 * A subscriber that is not a client: its messages go to a function instead of a socket. A
 * fallback session listens on one to receive POSTs that landed on another node.
 */
export class Inbox {
  constructor(readonly receive: (payload: string | Buffer, isBinary: boolean) => void) {}
}

type Subscriber = Connection<any> | Inbox;

/** The in-process hub; `createHub()` makes one. */
export class Hub extends EventEmitter<HubEvents> {
  readonly #topics = new Map<string, Set<Subscriber>>();
  /** The upstream subscription of each topic, settled once `topicOpened` has finished. */
  readonly #opened = new Map<string, Promise<void>>();
  #subscriptions = 0;
  #warnedUnhandled = false;

  /** Adds `connection` to `topic`. Use `ws.subscribe(topic)`, which also remembers it for cleanup. */
  add(connection: Subscriber, topic: string): boolean {
    let subscribers = this.#topics.get(topic);
    if (!subscribers) {
      subscribers = new Set();
      this.#topics.set(topic, subscribers);
      this.#opened.set(topic, this.#guard(this.topicOpened(topic)));
    }
    if (subscribers.has(connection)) return false;
    subscribers.add(connection);
    this.#subscriptions++;
    return true;
  }

  /** Removes `connection` from `topic`. */
  remove(connection: Subscriber, topic: string): boolean {
    const subscribers = this.#topics.get(topic);
    if (!subscribers?.delete(connection)) return false;
    this.#subscriptions--;
    if (subscribers.size === 0) {
      this.#topics.delete(topic);
      this.#opened.delete(topic);
      this.#guard(this.topicClosed(topic));
    }
    return true;
  }

  /**
   * Resolves once messages that other nodes publish on `topic` will reach this node's
   * subscribers (at once in process; after the upstream SUBSCRIBE for a distributed hub).
   * Rejects if that subscription failed.
   */
  whenSubscribed(topic: string): Promise<void> {
    return this.#opened.get(topic) ?? Promise.resolve();
  }

  /** How many connections on this process are subscribed to `topic`. */
  subscriberCount(topic: string): number {
    return this.#topics.get(topic)?.size ?? 0;
  }

  /** The topics with local subscribers. */
  protected localTopics(): IterableIterator<string> {
    return this.#topics.keys();
  }

  /** Topic and subscription counts on this process. */
  get stats(): HubStats {
    return { topics: this.#topics.size, subscriptions: this.#subscriptions };
  }

  /**
   * Sends `data` (a string as text, binary as binary) to every subscriber of `topic`, except
   * `except`, on this process and, for a distributed hub, on every other node. Local delivery
   * happens before this returns. The promise rejects if a distributed backend could not take
   * the message; it never rejects unhandled, and the failure is also emitted as 'error'.
   */
  publish(topic: string, data: SendData, except?: Connection<any>): Promise<void> {
    const [payload, isBinary] = toPayload(data);
    this.deliver(topic, payload, isBinary, except);
    return this.#guard(this.forward(topic, payload, isBinary));
  }

  /**
   * Delivers to the local subscribers of `topic`, framing the message once. A durable hub
   * passes the stream `entry`: recoverable connections get it enveloped with its position.
   */
  protected deliver(
    topic: string,
    payload: string | Buffer,
    isBinary: boolean,
    except?: Connection<any>,
    entry?: DurableEntry,
  ): void {
    const subscribers = this.#topics.get(topic);
    if (!subscribers) return;
    let frame: Buffer | undefined;
    // One envelope per delivery, shared by the recoverable subscribers (recovery/).
    const envelope: EnvelopeCache | undefined = entry && {};
    for (const subscriber of subscribers) {
      if (subscriber === except) continue;
      if (subscriber instanceof Inbox) {
        subscriber.receive(payload, isBinary);
        continue;
      }
      // Durable entries skip their sender and go enveloped to recoverable connections.
      if (entry && subscriber.deliverDurable(topic, entry, envelope!)) continue;
      frame ??= frameMessage(payload, isBinary);
      subscriber.sendFrame(frame, payload, isBinary);
    }
  }

  /** True when publishes reach other processes (a Redis hub); false in process. */
  get distributed(): boolean {
    return false;
  }

  /** A topic got its first local subscriber. Distributed hubs subscribe to it upstream. */
  protected topicOpened(_topic: string): void | Promise<void> {}

  /** A topic lost its last local subscriber. Distributed hubs unsubscribe upstream. */
  protected topicClosed(_topic: string): void | Promise<void> {}

  /** Sends a published message to the other nodes. Nothing to do in process. */
  protected forward(_topic: string, _payload: string | Buffer, _isBinary: boolean): void | Promise<void> {}

  /** Reports a backend failure: an 'error' event, or one console warning if nobody listens. */
  protected report(error: Error): void {
    if (this.listenerCount('error') > 0) {
      this.emit('error', error);
    } else if (!this.#warnedUnhandled) {
      this.#warnedUnhandled = true;
      console.warn('[switchyard] hub error (add hub.on("error") to handle these):', error);
    }
  }

  #guard(result: void | Promise<void>): Promise<void> {
    if (!result) return Promise.resolve();
    const guarded = Promise.resolve(result).catch((error: unknown) => {
      const err = error instanceof Error ? error : new Error(String(error));
      this.report(err);
      throw err;
    });
    // The caller may not await it (ws.publish in a handler): never an unhandled rejection.
    guarded.catch(() => {});
    return guarded;
  }
}

/** Creates an in-process hub. Pass it as `hub` to endpoints to share topics between them. */
export function createHub(): Hub {
  return new Hub();
}
