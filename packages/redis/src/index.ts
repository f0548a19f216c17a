/**
 * @switchyard/redis: a hub whose topics span every process and machine that shares one Redis.
 *
 *   const hub = redisHub({ url: process.env.REDIS_URL });
 *   app.use('/chat', websocket({ hub, ... }));
 *
 * Each node delivers its own publishes locally at once and sends them to Redis tagged with its
 * id; it ignores its own messages when Redis echoes them back, so no subscriber gets a message
 * twice. Redis pub/sub delivers at most once: a message is lost, without an error, if Redis
 * dies with it in flight, or if it is published after Redis is back but before another node
 * has subscribed again (docs/redis.md). A node subscribes to a topic's channel only while it
 * has local subscribers for it.
 */
import { randomBytes } from 'node:crypto';
import { createClient } from 'redis';
import type { RedisClientOptions } from 'redis';
import { Hub } from '@switchyard/core';
import type { HubOutage } from '@switchyard/core';

/** Settings for {@link redisHub}. */
export interface RedisHubOptions {
  /** `redis://[user:password@]host:port[/db]`. Default: `redis://127.0.0.1:6379`. */
  url?: string;
  /** Prefix of the Redis channel names. Default `'switchyard:'`. */
  prefix?: string;
  /** Extra node-redis client options (socket, TLS, credentials). */
  client?: Omit<RedisClientOptions, 'url'>;
}

const TEXT = 0;
const BINARY = 1;
const ID_LENGTH = 8;
const HEADER_LENGTH = 1 + ID_LENGTH;

type Client = ReturnType<typeof createClient>;

/** The error a Redis hub emits once as an outage starts; the first failure is its `cause`. */
export class RedisUnreachableError extends Error {
  /** Stable machine-readable code. */
  readonly code = 'ERR_SWITCHYARD_REDIS_UNREACHABLE';

  constructor(cause: Error) {
    super(`Redis is unreachable (${cause.message}): publishes reject until it is back; "recovered" follows`, { cause });
    this.name = 'RedisUnreachableError';
  }
}

/** A {@link Hub} backed by Redis pub/sub. */
export class RedisHub extends Hub {
  /** This node's id, stamped on every message it publishes. */
  readonly id = randomBytes(ID_LENGTH);
  readonly #prefix: string;
  readonly #publisher: Client;
  readonly #subscriber: Client;
  readonly #connected: Promise<unknown>;
  #closed = false;
  #up = false;
  /** The outage under way: reported once as it starts, once (`recovered`) as it ends. */
  #outage: Omit<HubOutage, 'duration'> | undefined;
  /** Failures of `forward`, so that an outage counts them as publishes. */
  readonly #publishFailures = new WeakSet<object>();
  /** Subscribe/unsubscribe commands run in order, so that a topic opened, closed and reopened ends up subscribed. */
  #commands: Promise<unknown> = Promise.resolve();

  constructor(options: RedisHubOptions = {}) {
    super();
    this.#prefix = options.prefix ?? 'switchyard:';
    this.#publisher = createClient({
      ...options.client,
      url: options.url,
      // Fail a publish at once while Redis is down instead of queueing it for later: local
      // delivery already happened, and a late duplicate would be worse than an error.
      disableOfflineQueue: true,
      socket: { reconnectStrategy: (retries: number) => Math.min(50 * 2 ** retries, 2000), ...options.client?.socket },
    }) as Client;
    this.#subscriber = this.#publisher.duplicate();
    for (const client of [this.#publisher, this.#subscriber]) {
      client.on('error', (error: Error) => this.report(error));
    }
    // node-redis resubscribes its channels after a reconnect; topics whose SUBSCRIBE failed
    // while Redis was down are subscribed here.
    this.#subscriber.on('ready', () => {
      for (const topic of this.localTopics()) void this.#enqueue(() => this.#subscribe(topic)).catch(() => {});
      this.#endOutage();
    });
    this.#publisher.on('ready', () => this.#endOutage());
    this.#connected = Promise.all([this.#publisher.connect(), this.#subscriber.connect()]).then(() => {
      this.#up = true;
    });
    this.#connected.catch((error: unknown) => this.report(error as Error));
  }

  /** Publishes reach every node sharing this Redis. */
  override get distributed(): boolean {
    return true;
  }

  /** Resolves once both Redis connections are up. */
  ready(): Promise<void> {
    return this.#connected.then(() => undefined);
  }

  /**
   * Counts a failure. The first one while Redis is unreachable starts an outage and is
   * reported (one `error`); the rest only count, however many publishes reject meanwhile.
   */
  protected override report(error: Error): void {
    if (this.#closed) return;
    const outage = this.#outage;
    if (outage) {
      if (this.#publishFailures.has(error)) outage.failedPublishes++;
      else outage.errors++;
      return;
    }
    // A command that failed while both connections are up is not an outage: reported as is.
    if (this.#up && this.#publisher.isReady && this.#subscriber.isReady) {
      super.report(error);
      return;
    }
    const publish = this.#publishFailures.has(error);
    this.#outage = { since: Date.now(), failedPublishes: publish ? 1 : 0, errors: publish ? 0 : 1 };
    super.report(new RedisUnreachableError(error));
  }

  /** Both connections are ready: an outage ends once the resubscriptions queued before it ran. */
  #endOutage(): void {
    if (!this.#outage || !this.#publisher.isReady || !this.#subscriber.isReady) return;
    void this.#enqueue(async () => {
      const outage = this.#outage;
      if (!outage || this.#closed || !this.#publisher.isReady || !this.#subscriber.isReady) return;
      this.#outage = undefined;
      this.emit('recovered', { ...outage, duration: Date.now() - outage.since });
    }).catch(() => {});
  }

  /** Closes both Redis connections. */
  async close(): Promise<void> {
    this.#closed = true;
    await Promise.allSettled([this.#publisher.close(), this.#subscriber.close()]);
  }

  #channel(topic: string): string {
    return this.#prefix + topic;
  }

  #enqueue<T>(command: () => Promise<T>): Promise<T> {
    const run = this.#commands.then(command, command);
    this.#commands = run.catch(() => {});
    return run;
  }

  /** Waits for the first connection only; later outages fail fast (no offline queue). */
  async #firstConnection(): Promise<void> {
    if (!this.#up) await this.#connected;
  }

  async #subscribe(topic: string): Promise<void> {
    await this.#firstConnection();
    // Skip if the topic closed again before its turn came.
    if (this.#closed || this.subscriberCount(topic) === 0) return;
    await this.#subscriber.subscribe(this.#channel(topic), this.#onMessage, true);
  }

  protected override topicOpened(topic: string): Promise<void> {
    return this.#enqueue(() => this.#subscribe(topic));
  }

  protected override topicClosed(topic: string): Promise<void> {
    return this.#enqueue(async () => {
      if (this.#closed || this.subscriberCount(topic) > 0) return;
      await this.#subscriber.unsubscribe(this.#channel(topic), this.#onMessage, true);
    });
  }

  protected override async forward(topic: string, payload: string | Buffer, isBinary: boolean): Promise<void> {
    const body = typeof payload === 'string' ? Buffer.from(payload) : payload;
    const message = Buffer.allocUnsafe(HEADER_LENGTH + body.length);
    message[0] = isBinary ? BINARY : TEXT;
    this.id.copy(message, 1);
    body.copy(message, HEADER_LENGTH);
    try {
      await this.#firstConnection();
      await this.#publisher.publish(this.#channel(topic), message);
    } catch (error) {
      if (error !== null && typeof error === 'object') this.#publishFailures.add(error);
      throw error;
    }
  }

  readonly #onMessage = (message: Buffer, channel: Buffer): void => {
    if (message.length < HEADER_LENGTH) return;
    // Our own publish, echoed by Redis: its local subscribers already have it.
    if (message.compare(this.id, 0, ID_LENGTH, 1, HEADER_LENGTH) === 0) return;
    const topic = channel.toString().slice(this.#prefix.length);
    const body = message.subarray(HEADER_LENGTH);
    if (message[0] === BINARY) this.deliver(topic, body, true);
    else this.deliver(topic, body.toString(), false);
  };
}

/** Creates a Redis-backed hub: the same interface as `createHub()`, across processes. */
export function redisHub(options?: RedisHubOptions): RedisHub {
  return new RedisHub(options);
}
