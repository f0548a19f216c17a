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
import { RESP_TYPES, createClient } from 'redis';
import type { RedisClientOptions } from 'redis';
import { ErrorCode, Hub } from '@switchyard/core';
import { compareIds, senderIdOf, withCode } from '@switchyard/core/internal';
import type { DurableEntry, DurableStore, HubOutage, StreamPosition, UnrecoverableReason } from '@switchyard/core';

/** Settings for {@link redisHub}. */
export interface RedisHubOptions {
  /** `redis://[user:password@]host:port[/db]`. Default: `redis://127.0.0.1:6379`. */
  url?: string;
  /** Prefix of the Redis channel names. Default `'switchyard:'`. */
  prefix?: string;
  /** Extra node-redis client options (socket, TLS, credentials). */
  client?: Omit<RedisClientOptions, 'url'>;
  /**
   * Durable topics: each topic is a Redis stream, so that a Redis restart loses nothing Redis
   * persisted and connections can resume (the endpoint's `recovery`). Off by default (pub/sub).
   */
  durable?: DurableOptions | boolean;
}

/** Settings of durable topics (streams mode). */
export interface DurableOptions {
  /** Entries kept per topic, trimmed with `MAXLEN ~` (Redis may keep up to about 100 more). Default 10 000. */
  maxLen?: number;
  /** Entries older than this (ms) are trimmed (`MINID ~`) on the next publish; 0 keeps them. Default 3 600 000 (1 hour). */
  ttl?: number;
}

/** Internal topics (fallback sessions) stay on pub/sub: they are not worth keeping. */
const INTERNAL = '__sy:';
/** How long one blocking XREAD waits; a topic opened meanwhile is read from its position on the next one. */
const READ_BLOCK = 250;
const READ_COUNT = 1000;
const AS_BUFFERS = { typeMapping: { [RESP_TYPES.BLOB_STRING]: Buffer } } as const;

/** Appends one entry: a new epoch if the stream has none, the count, `MAXLEN ~`, then `MINID ~` by age. */
const APPEND = `
local epoch = redis.call('HGET', KEYS[2], 'epoch')
if not epoch then epoch = ARGV[1]; redis.call('HSET', KEYS[2], 'epoch', epoch) end
local n = redis.call('HINCRBY', KEYS[2], 'n', 1)
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*', 'd', ARGV[3], 'b', ARGV[4], 's', ARGV[5], 'e', epoch, 'n', n)
local ttl = tonumber(ARGV[6])
if ttl > 0 then
  local t = redis.call('TIME')
  local minid = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) - ttl
  if minid > 0 then redis.call('XTRIM', KEYS[1], 'MINID', '~', string.format('%d', minid)) end
  redis.call('PEXPIRE', KEYS[1], ttl * 2)
  redis.call('PEXPIRE', KEYS[2], ttl * 2)
end
return id`;

/**
 * A stream's position, read atomically: {last id, epoch, count, count of the oldest entry kept}.
 * Trimming does not move XINFO's max-deleted-entry-id, so the counts tell what was trimmed.
 */
const POSITION = `
local meta = redis.call('HMGET', KEYS[2], 'epoch', 'n')
if redis.call('EXISTS', KEYS[1]) == 0 then return {'0-0', meta[1] or '', meta[2] or '0', ''} end
local info = redis.call('XINFO', 'STREAM', KEYS[1])
local last = '0-0'
for i = 1, #info, 2 do
  if info[i] == 'last-generated-id' then last = info[i + 1] end
end
local oldest = ''
local first = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)[1]
if first then
  local fields = first[2]
  for i = 1, #fields, 2 do
    if fields[i] == 'n' then oldest = fields[i + 1] end
  end
end
return {last, meta[1] or '', meta[2] or '0', oldest}`;

const TEXT = 0;
const BINARY = 1;
const ID_LENGTH = 8;
const HEADER_LENGTH = 1 + ID_LENGTH;

type Client = ReturnType<typeof createClient>;

/** The error a Redis hub emits once as an outage starts; the first failure is its `cause`. */
export class RedisUnreachableError extends Error {
  /** Stable machine-readable code. */
  readonly code = 'SWITCHYARD_ERR_REDIS_UNREACHABLE';

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
  /** Streams mode: its settings, and the connection that runs the blocking XREAD. */
  readonly #durable: Required<DurableOptions> | undefined;
  readonly #reader: Client | undefined;
  /** Streams mode: where this node reads each topic with local subscribers from. */
  readonly #cursors = new Map<string, StreamPosition>();
  #wakeReader: (() => void) | undefined;
  /** The durable store behind the endpoint's `recovery`; undefined in pub/sub mode. */
  readonly durable: DurableStore | undefined;

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
    this.#durable = resolveDurable(options.durable);
    if (this.#durable) this.#reader = this.#publisher.duplicate();
    this.durable = this.#durable ? this.#store() : undefined;
    for (const client of [this.#publisher, this.#subscriber, ...(this.#reader ? [this.#reader] : [])]) {
      client.on('error', (error: Error) => this.report(error));
    }
    // node-redis resubscribes its channels after a reconnect; topics whose SUBSCRIBE failed
    // while Redis was down are subscribed here.
    this.#subscriber.on('ready', () => {
      for (const topic of this.localTopics()) void this.#enqueue(() => this.#subscribe(topic)).catch(() => {});
      this.#endOutage();
    });
    this.#publisher.on('ready', () => this.#endOutage());
    this.#reader?.on('ready', () => {
      // Topics whose position could not be read while Redis was down are opened now.
      for (const topic of this.localTopics()) {
        if (this.#isStream(topic) && !this.#cursors.has(topic)) void this.#openStream(topic).catch(() => {});
      }
      this.#wakeReader?.();
      this.#endOutage();
    });
    this.#connected = Promise.all([
      this.#publisher.connect(),
      this.#subscriber.connect(),
      this.#reader?.connect(),
    ]).then(() => {
      this.#up = true;
      if (this.#reader) void this.#readLoop();
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
    if (this.#up && this.#allReady()) {
      super.report(error);
      return;
    }
    const publish = this.#publishFailures.has(error);
    this.#outage = { since: Date.now(), failedPublishes: publish ? 1 : 0, errors: publish ? 0 : 1 };
    super.report(new RedisUnreachableError(error));
  }

  /** Both connections are ready: an outage ends once the resubscriptions queued before it ran. */
  #endOutage(): void {
    if (!this.#outage || !this.#allReady()) return;
    void this.#enqueue(async () => {
      const outage = this.#outage;
      if (!outage || this.#closed || !this.#allReady()) return;
      this.#outage = undefined;
      this.emit('recovered', { ...outage, duration: Date.now() - outage.since });
    }).catch(() => {});
  }

  #allReady(): boolean {
    return this.#publisher.isReady && this.#subscriber.isReady && (this.#reader?.isReady ?? true);
  }

  /** Closes the Redis connections. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#wakeReader?.();
    await Promise.allSettled([this.#publisher.close(), this.#subscriber.close(), this.#reader?.close()]);
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
    if (this.#isStream(topic)) return this.#openStream(topic);
    return this.#enqueue(() => this.#subscribe(topic));
  }

  protected override topicClosed(topic: string): Promise<void> {
    if (this.#isStream(topic)) {
      if (this.subscriberCount(topic) === 0) this.#cursors.delete(topic);
      return Promise.resolve();
    }
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

  /**
   * In streams mode a publish is an `XADD` and nothing else: every node, this one included,
   * delivers it when its XREAD returns it, so that all subscribers see one order, the stream's,
   * and every message they get has a position to resume from.
   */
  override publish(
    topic: string,
    data: Parameters<Hub['publish']>[1],
    except?: Parameters<Hub['publish']>[2],
  ): Promise<void> {
    if (!this.#isStream(topic)) return super.publish(topic, data, except);
    const [payload, isBinary] = payloadOf(data);
    const appended = this.#append(topic, payload, isBinary, senderIdOf(except)).catch((error: unknown) => {
      const err = error instanceof Error ? error : new Error(String(error));
      this.#publishFailures.add(err);
      this.report(err);
      throw err;
    });
    appended.catch(() => {});
    return appended;
  }

  #isStream(topic: string): boolean {
    return this.#durable !== undefined && !topic.startsWith(INTERNAL);
  }

  #keys(topic: string): [stream: string, meta: string] {
    return [`${this.#prefix}stream:${topic}`, `${this.#prefix}meta:${topic}`];
  }

  async #append(topic: string, payload: Buffer, isBinary: boolean, sender: string): Promise<void> {
    await this.#firstConnection();
    const { maxLen, ttl } = this.#durable!;
    await this.#publisher.eval(APPEND, {
      keys: this.#keys(topic),
      arguments: [
        randomBytes(6).toString('base64url'),
        String(maxLen),
        payload,
        isBinary ? '1' : '0',
        sender,
        String(ttl),
      ],
    });
  }

  /** The position reads in flight for resumes' checks, by topic (shared by concurrent checks). */
  readonly #checking = new Map<string, Promise<[StreamPosition, number | undefined]>>();

  /** Where a stream stands now: its last id, epoch and count, and the count of its oldest entry (undefined if empty). */
  async #position(topic: string): Promise<[StreamPosition, number | undefined]> {
    const [id, epoch, count, oldest] = (await this.#publisher.eval(POSITION, {
      keys: this.#keys(topic),
      arguments: [],
    })) as string[];
    return [{ id: id!, epoch: epoch!, count: Number(count) }, oldest ? Number(oldest) : undefined];
  }

  /** A topic's first local subscriber: this node reads its stream from where it stands now. */
  async #openStream(topic: string): Promise<void> {
    await this.#firstConnection();
    const [position] = await this.#position(topic);
    if (this.#closed || this.subscriberCount(topic) === 0 || this.#cursors.has(topic)) return;
    this.#cursors.set(topic, position);
    this.#wakeReader?.();
  }

  /**
   * Reads the streams of the topics with local subscribers on a connection of its own (XREAD
   * blocks it). After an outage it goes on from each topic's last id: whatever Redis kept while
   * it was down is delivered, once.
   */
  async #readLoop(): Promise<void> {
    const reader = this.#reader!;
    while (!this.#closed) {
      if (this.#cursors.size === 0 || !reader.isReady) {
        await new Promise<void>((resolve) => {
          this.#wakeReader = resolve;
          setTimeout(resolve, READ_BLOCK).unref();
        });
        continue;
      }
      const topics = [...this.#cursors.keys()];
      let reply: unknown;
      try {
        reply = await reader.sendCommand(
          [
            'XREAD',
            'COUNT',
            String(READ_COUNT),
            'BLOCK',
            String(READ_BLOCK),
            'STREAMS',
            ...topics.map((topic) => this.#keys(topic)[0]),
            ...topics.map((topic) => this.#cursors.get(topic)!.id),
          ],
          AS_BUFFERS,
        );
      } catch (error) {
        if (this.#closed) return;
        this.report(error as Error);
        await new Promise((resolve) => setTimeout(resolve, 100));
        continue;
      }
      if (!Array.isArray(reply)) continue;
      const streamPrefix = `${this.#prefix}stream:`;
      for (const [key, entries] of reply as Array<[Buffer, Array<[Buffer, Buffer[]]>]>) {
        const topic = key.toString().slice(streamPrefix.length);
        for (const [rawId, fields] of entries) {
          // The topic closed meanwhile (or reopened from a newer position): not for it.
          const cursor = this.#cursors.get(topic);
          const id = rawId.toString();
          if (!cursor || compareIds(id, cursor.id) <= 0) break;
          const entry = entryOf(id, fields);
          this.#cursors.set(topic, entry);
          if (entry.isBinary) this.deliver(topic, entry.payload, true, undefined, entry);
          else this.deliver(topic, entry.payload, false, undefined, entry);
        }
      }
    }
  }

  #store(): DurableStore {
    return {
      position: (topic) => this.#cursors.get(topic),
      check: async (topic, from): Promise<UnrecoverableReason | undefined> => {
        // Concurrent resumes of one topic share one position script: any of them could have
        // been the one that ran it (a mass reconnect sends them all at once).
        let reading = this.#checking.get(topic);
        if (!reading) {
          reading = this.#position(topic).finally(() => this.#checking.delete(topic));
          this.#checking.set(topic, reading);
        }
        const [now, oldest] = await reading;
        if (from.epoch !== '' && now.epoch !== from.epoch) return 'reset';
        if (from.epoch === '' && (from.id !== '0-0' || from.count !== 0)) return 'reset';
        // The entry right after the client's last one must still be there (or nothing came since).
        if (now.count <= from.count) return undefined;
        if (oldest === undefined || oldest > from.count + 1) return 'trimmed';
        return undefined;
      },
      range: async (topic, after, until, count) => {
        const reply = (await this.#publisher.sendCommand(
          ['XRANGE', this.#keys(topic)[0], `(${after}`, until, 'COUNT', String(count)],
          AS_BUFFERS,
        )) as Array<[Buffer, Buffer[]]>;
        return reply.map(([id, fields]) => entryOf(id.toString(), fields));
      },
      keepSessions: async (sessions, ttl) => {
        const multi = this.#publisher.multi();
        for (const [id, endpoint] of sessions)
          multi.set(`${this.#prefix}session:${id}`, endpoint, { PX: Math.ceil(ttl) });
        await multi.exec();
      },
      findSession: async (id) => {
        const value = await this.#publisher.get(`${this.#prefix}session:${id}`);
        return value ?? undefined;
      },
      // A resume's commands go through the publisher, which fails them at once while it is
      // not ready (no offline queue): known down until it reconnects.
      reachable: () => this.#publisher.isReady,
    };
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

function resolveDurable(option: DurableOptions | boolean | undefined): Required<DurableOptions> | undefined {
  if (option === undefined || option === false) return undefined;
  const settings = option === true ? {} : option;
  if (settings === null || typeof settings !== 'object')
    throw invalidOption('redisHub(): "durable" must be true or { maxLen, ttl }');
  for (const name of Object.keys(settings)) {
    if (name !== 'maxLen' && name !== 'ttl') throw invalidOption(`redisHub(): unknown option "durable.${name}"`);
  }
  const maxLen = settings.maxLen ?? 10_000;
  const ttl = settings.ttl ?? 3_600_000;
  if (!Number.isSafeInteger(maxLen) || maxLen < 1)
    throw invalidOption(`redisHub(): "durable.maxLen" must be a positive integer, got ${String(maxLen)}`);
  if (!Number.isSafeInteger(ttl) || ttl < 0)
    throw invalidOption(`redisHub(): "durable.ttl" must be a whole number of ms (0: no age limit), got ${String(ttl)}`);
  return { maxLen, ttl };
}

/** redisHub()'s option errors carry core's option code, as websocket()'s do (docs/errors.md). */
function invalidOption(message: string): TypeError {
  return withCode(new TypeError(message), ErrorCode.INVALID_OPTION);
}

function payloadOf(data: Parameters<Hub['publish']>[1]): [Buffer, boolean] {
  if (typeof data === 'string') return [Buffer.from(data), false];
  if (Buffer.isBuffer(data)) return [data, true];
  if (ArrayBuffer.isView(data)) return [Buffer.from(data.buffer, data.byteOffset, data.byteLength), true];
  return [Buffer.from(data), true];
}

/** A stream entry as XREAD and XRANGE return it: flat field/value pairs. */
function entryOf(id: string, fields: Buffer[]): DurableEntry {
  let payload: Buffer = Buffer.alloc(0);
  let isBinary = false;
  let sender = '';
  let epoch = '';
  let count = 0;
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const name = fields[i]!.toString();
    const value = fields[i + 1]!;
    if (name === 'd') payload = value;
    else if (name === 'b') isBinary = value.toString() === '1';
    else if (name === 's') sender = value.toString();
    else if (name === 'e') epoch = value.toString();
    else if (name === 'n') count = Number(value.toString());
  }
  return { id, epoch, count, payload: isBinary ? payload : payload.toString(), isBinary, sender };
}
