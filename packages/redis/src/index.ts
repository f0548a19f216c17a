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
import { createHash, randomBytes } from 'node:crypto';
import { ErrorReply, RESP_TYPES, createClient, createCluster } from 'redis';
import type { RedisClientOptions, RedisClusterOptions } from 'redis';
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
  /**
   * Redis Cluster instead of one Redis: `{ rootNodes: [{ url }, ...] }` (node-redis cluster
   * options), or a node-redis cluster client, which the hub duplicates (it never uses or closes
   * the one given). Topics use sharded pub/sub (`SPUBLISH`/`SSUBSCRIBE`); a durable topic's keys
   * share one hash tag. Not with `url` or `client` (per-node settings go in `defaults`).
   */
  cluster?: RedisClusterOptions | ReturnType<typeof createCluster>;
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

/**
 * Appends one entry: a new epoch if the stream has none, the count, `MAXLEN ~`, then `MINID ~` by
 * age. On a cluster, ARGV[7] is the topic's wake channel, on the stream's slot: `SPUBLISH` tells
 * the nodes reading it that there is something new.
 */
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
if ARGV[7] then redis.call('SPUBLISH', ARGV[7], '') end
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
/**
 * On a cluster, a pub/sub message also carries its node's publish number (uint32, after the id).
 * A slot migration can hand a subscriber a node's messages out of order: the channel's old and
 * new masters each deliver theirs, and node-redis sends a redirected publish again after those
 * sent after it. A subscriber drops a message numbered at or below the last it delivered from
 * that node on that topic, so that pub/sub stays at most once and in order across the move.
 */
const SEQUENCE_LENGTH = 4;
/**
 * The nodes whose last publish number a topic remembers; the oldest is forgotten beyond it (a
 * late message from a node forgotten that way would be delivered: with more than this many
 * nodes publishing to one topic during a migration, order holds only per remembered node).
 */
const SEQUENCE_SENDERS = 256;

type Client = ReturnType<typeof createClient>;
type Cluster = ReturnType<typeof createCluster>;

/**
 * On a cluster: how long a command may wait for a node (a dead master is retried, not refused),
 * and how long a heal's fresh client may take to reach every master.
 */
const CLUSTER_COMMAND_TIMEOUT = 5000;
const CLUSTER_CONNECT_TIMEOUT = 2000;
/** On a cluster: how often a node with an outage rebuilds its view of the cluster. */
const CLUSTER_HEAL_EVERY = 250;
/** On a cluster: each durable topic is read at least this often, in case a wake was lost. */
const CLUSTER_POLL = 1000;
/**
 * On one Redis: how long a resume's store command (a session lookup or write, a position read, a
 * replay page) waits for an answer. Past it, the command rejects with
 * {@link RedisUnreachableError} and the resume is answered with 1013 (a WebSocket) or 503 (an SSE
 * session): the client resumes again, from the position it had. A Redis that stalls (a long
 * script, `DEBUG SLEEP`, `CLIENT PAUSE`, a network that drops without a reset) would otherwise
 * hold every resume of the node with it, past the 10 s in which a resuming WebSocket must show its
 * token. Lookups queued behind a stalled one count their wait from when they were asked.
 */
const STORE_TIMEOUT = 3000;
/** The most keys one MGET asks for: a larger herd's lookups go out as several, pipelined. */
const MGET_KEYS = 1000;

/** The error a Redis hub emits once as an outage starts; the first failure is its `cause`. */
export class RedisUnreachableError extends Error {
  /** Stable machine-readable code. */
  readonly code = 'SWITCHYARD_ERR_REDIS_UNREACHABLE';

  /** `cause`: the first failure, or (on a cluster) what the hub saw itself, as a sentence. */
  constructor(cause: Error | string) {
    if (typeof cause === 'string')
      super(`Redis is unreachable (${cause}): publishes reject until it is back; "recovered" follows`);
    else
      super(`Redis is unreachable (${cause.message}): publishes reject until it is back; "recovered" follows`, {
        cause,
      });
    this.name = 'RedisUnreachableError';
  }
}

/** A {@link Hub} backed by Redis pub/sub, on one Redis or a Redis Cluster. */
export class RedisHub extends Hub {
  /** This node's id, stamped on every message it publishes. */
  readonly id = randomBytes(ID_LENGTH);
  readonly #prefix: string;
  /** One Redis: the connections that publish, subscribe and (streams mode) read. */
  readonly #publisher: Client | undefined;
  readonly #subscriber: Client | undefined;
  readonly #reader: Client | undefined;
  /** A cluster: the options its clients are made from, and the client in use (replaced after an outage). */
  readonly #clusterOptions: RedisClusterOptions | undefined;
  #cluster: Cluster | undefined;
  /** A cluster: the per-node pub/sub clients whose moved channels the hub follows. */
  readonly #followed = new WeakSet<object>();
  /** A cluster: an outage's rebuild of the client is under way. */
  #healing = false;
  readonly #connected: Promise<unknown>;
  #closed = false;
  #up = false;
  /** The outage under way: reported once as it starts, once (`recovered`) as it ends. */
  #outage: Omit<HubOutage, 'duration'> | undefined;
  /** Failures of `forward`, so that an outage counts them as publishes. */
  readonly #publishFailures = new WeakSet<object>();
  /** Subscribe/unsubscribe commands run in order, so that a topic opened, closed and reopened ends up subscribed. */
  #commands: Promise<unknown> = Promise.resolve();
  /** Streams mode: its settings. */
  readonly #durable: Required<DurableOptions> | undefined;
  /** Streams mode: where this node reads each topic with local subscribers from. */
  readonly #cursors = new Map<string, StreamPosition>();
  /** On a cluster: this node's last pub/sub publish number. */
  #sequence = 0;
  /** On a cluster: per topic, the last publish number delivered from each node (by id). */
  readonly #lastDelivered = new Map<string, Map<string, number>>();
  /** Streams mode on a cluster: the topics to read on the reader's next turn (woken, or polled). */
  readonly #dirty = new Set<string>();
  #wakeReader: (() => void) | undefined;
  /** The durable store behind the endpoint's `recovery`; undefined in pub/sub mode. */
  readonly durable: DurableStore | undefined;

  constructor(options: RedisHubOptions = {}) {
    super();
    checkOptions(options);
    this.#prefix = options.prefix ?? 'switchyard:';
    this.#durable = resolveDurable(options.durable);
    this.durable = this.#durable ? this.#store() : undefined;
    if (options.cluster) {
      this.#clusterOptions = clusterOptionsOf(options.cluster);
      const cluster = this.#newCluster();
      this.#cluster = cluster;
      this.#connected = this.#timed(cluster.connect()).then(() => {
        this.#up = true;
        if (this.#durable) void this.#clusterReadLoop();
      });
      this.#connected.catch((error: unknown) => {
        this.report(error as Error);
        // The first connection failed: an outage from the start, healed as any other.
        this.#up = true;
        if (this.#durable) void this.#clusterReadLoop();
      });
      return;
    }
    this.#publisher = createClient({
      ...options.client,
      url: options.url,
      // Fail a publish at once while Redis is down instead of queueing it for later: local
      // delivery already happened, and a late duplicate would be worse than an error.
      disableOfflineQueue: true,
      socket: { reconnectStrategy: (retries: number) => Math.min(50 * 2 ** retries, 2000), ...options.client?.socket },
    }) as Client;
    const publisher = this.#publisher;
    this.#subscriber = publisher.duplicate();
    const subscriber = this.#subscriber;
    if (this.#durable) this.#reader = publisher.duplicate();
    for (const client of [publisher, subscriber, ...(this.#reader ? [this.#reader] : [])]) {
      client.on('error', (error: Error) => this.report(error));
    }
    // node-redis resubscribes its channels after a reconnect; topics whose SUBSCRIBE failed
    // while Redis was down are subscribed here.
    subscriber.on('ready', () => {
      for (const topic of this.localTopics()) void this.#enqueue(() => this.#subscribe(topic)).catch(() => {});
      this.#endOutage();
    });
    publisher.on('ready', () => this.#endOutage());
    this.#reader?.on('ready', () => {
      // Topics whose position could not be read while Redis was down are opened now.
      for (const topic of this.localTopics()) {
        if (this.#isStream(topic) && !this.#cursors.has(topic)) void this.#openStream(topic).catch(() => {});
      }
      this.#wakeReader?.();
      this.#endOutage();
    });
    this.#connected = Promise.all([publisher.connect(), subscriber.connect(), this.#reader?.connect()]).then(() => {
      this.#up = true;
      if (this.#reader) void this.#readLoop();
    });
    this.#connected.catch((error: unknown) => this.report(error as Error));
  }

  /** Publishes reach every node sharing this Redis. */
  override get distributed(): boolean {
    return true;
  }

  /** Resolves once the Redis connections are up (on a cluster: once it is discovered and every master connected). */
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
    if (this.#up && this.#allReady() && !(this.#cluster && isClusterOutage(error))) {
      super.report(error);
      return;
    }
    const publish = this.#publishFailures.has(error);
    this.#outage = { since: Date.now(), failedPublishes: publish ? 1 : 0, errors: publish ? 0 : 1 };
    super.report(error instanceof RedisUnreachableError ? error : new RedisUnreachableError(error));
    if (this.#cluster) void this.#heal();
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
    if (this.#cluster) return !this.#healing;
    return this.#publisher!.isReady && this.#subscriber!.isReady && (this.#reader?.isReady ?? true);
  }

  /** Closes the Redis connections. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#wakeReader?.();
    if (this.#cluster) {
      // Commands under way first (an unsubscribe's node-redis cleanup throws on a destroyed client).
      await this.#commands;
      this.#cluster.destroy();
      return;
    }
    await Promise.allSettled([this.#publisher!.close(), this.#subscriber!.close(), this.#reader?.close()]);
  }

  /** A cluster client made from the hub's options; `roots` adds the nodes last seen. */
  #newCluster(roots: Array<{ url: string }> = []): Cluster {
    const options = this.#clusterOptions!;
    const seen = new Set(options.rootNodes.map((node) => node.url));
    const cluster = createCluster({
      ...options,
      rootNodes: [...options.rootNodes, ...roots.filter((node) => !seen.has(node.url))],
      defaults: {
        ...options.defaults,
        // As on one Redis: a publish to a node that is down fails at once, never late.
        disableOfflineQueue: true,
        socket: {
          reconnectStrategy: (retries: number) => Math.min(50 * 2 ** retries, 1000),
          connectTimeout: CLUSTER_CONNECT_TIMEOUT,
          ...options.defaults?.socket,
        },
      },
    });
    cluster.on('error', (error: Error) => {
      if (this.#cluster === cluster) this.report(error);
    });
    cluster.on('node-error', (error: Error) => {
      if (this.#cluster === cluster) this.report(error);
    });
    return cluster;
  }

  /**
   * An outage on a cluster: node-redis follows a slot that moved (MOVED, ASK, a server's
   * `SUNSUBSCRIBE`), not a master that died, so the hub rebuilds its client from the nodes it
   * knows until a fresh one reaches every master (the replica promoted in its place), then
   * subscribes every topic again, reads every stream from its position, and reports `recovered`.
   */
  async #heal(): Promise<void> {
    if (this.#healing) return;
    this.#healing = true;
    try {
      while (!this.#closed) {
        await delay(CLUSTER_HEAL_EVERY);
        const old = this.#cluster!;
        const known = [...old.masters, ...old.replicas].map((node) => ({ url: `redis://${node.host}:${node.port}` }));
        const fresh = this.#newCluster(known);
        try {
          await this.#timed(fresh.connect(), CLUSTER_CONNECT_TIMEOUT);
          await this.#enqueue(async () => {
            for (const topic of this.localTopics()) {
              if (this.subscriberCount(topic) === 0) continue;
              await this.#timed(fresh.sSubscribe(this.#subscription(topic), this.#onMessage, true));
            }
            this.#followMoves(fresh);
            if (this.#closed) throw new RedisUnreachableError('the hub closed while it healed');
            this.#cluster = fresh;
            old.destroy();
          });
        } catch {
          fresh.destroy();
          continue;
        }
        for (const topic of this.localTopics()) {
          if (this.#isStream(topic) && !this.#cursors.has(topic)) void this.#openStream(topic).catch(() => {});
        }
        for (const topic of this.#cursors.keys()) this.#dirty.add(topic);
        this.#wakeReader?.();
        break;
      }
    } finally {
      this.#healing = false;
    }
    this.#endOutage();
  }

  /**
   * A slot that moves to another master takes its shard channels with it: Redis tells each
   * subscriber with a `SUNSUBSCRIBE` of its own. node-redis 5 drops the channel's listeners then,
   * and its per-node client emits `sharded-channel-moved`, but its cluster client does not act on
   * it (it listens for another event name): the hub subscribes the channel again itself, which
   * reaches the new master (SSUBSCRIBE's MOVED makes node-redis learn the new slot map).
   */
  #followMoves(cluster: Cluster): void {
    for (const master of cluster.masters) {
      const client = master.pubSub?.client;
      if (!client || this.#followed.has(client)) continue;
      this.#followed.add(client);
      client.on('sharded-channel-moved', (channel: string) => {
        if (this.#cluster !== cluster || this.#closed) return;
        for (const topic of this.localTopics()) {
          if (this.#subscription(topic) !== channel) continue;
          void this.#enqueue(() => this.#subscribe(topic)).then(
            () => {
              // A durable topic's wakes may have been lost meanwhile: its stream is read now.
              this.#dirty.add(topic);
              this.#wakeReader?.();
            },
            (error: unknown) => this.report(error as Error),
          );
        }
      });
    }
  }

  /** On a cluster, a command that waits for a node gives up after a while (the node may be dead). */
  #timed<T>(promise: Promise<T>, ms = CLUSTER_COMMAND_TIMEOUT): Promise<T> {
    if (!this.#cluster) return promise;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new RedisUnreachableError('Redis Cluster: no answer from the node')), ms);
    });
    return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
  }

  #channel(topic: string): string {
    return this.#prefix + topic;
  }

  /** The channel a topic's node subscribes to: its messages, or on a cluster in streams mode, its wake channel. */
  #subscription(topic: string): string {
    return this.#cluster && this.#isStream(topic) ? this.#wakeChannel(topic) : this.#channel(topic);
  }

  /** A durable topic's wake channel on a cluster: on its stream's slot. */
  #wakeChannel(topic: string): string {
    return `${this.#prefix}wake:{${hashTag(topic)}}`;
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
    if (this.#cluster) {
      // The heal subscribes every topic on its fresh client.
      if (this.#outage) throw new RedisUnreachableError('Redis Cluster: an outage is under way');
      await this.#timed(this.#cluster.sSubscribe(this.#subscription(topic), this.#onMessage, true));
      this.#followMoves(this.#cluster);
      return;
    }
    await this.#subscriber!.subscribe(this.#channel(topic), this.#onMessage, true);
  }

  protected override topicOpened(topic: string): Promise<void> {
    if (this.#isStream(topic)) {
      if (!this.#cluster) return this.#openStream(topic);
      // On a cluster the reader is woken by the topic's wake channel. The position is read at
      // once, as on one Redis (what is appended after it is this node's to deliver); once the
      // wake channel is subscribed, the stream is read, for what came before that.
      const subscribed = this.#enqueue(() => this.#subscribe(topic)).then(() => {
        this.#dirty.add(topic);
        this.#wakeReader?.();
      });
      return Promise.all([this.#openStream(topic), subscribed]).then(() => undefined);
    }
    return this.#enqueue(() => this.#subscribe(topic));
  }

  protected override topicClosed(topic: string): Promise<void> {
    if (this.#isStream(topic)) {
      if (this.subscriberCount(topic) === 0) this.#cursors.delete(topic);
      if (!this.#cluster) return Promise.resolve();
    }
    return this.#enqueue(async () => {
      if (this.#closed || this.subscriberCount(topic) > 0) return;
      if (this.#cluster) {
        // The heal's fresh client subscribes only the topics that have subscribers.
        if (this.#outage) return;
        await this.#timed(this.#cluster.sUnsubscribe(this.#subscription(topic), this.#onMessage, true));
        this.#lastDelivered.delete(topic);
        return;
      }
      await this.#subscriber!.unsubscribe(this.#channel(topic), this.#onMessage, true);
    });
  }

  protected override async forward(topic: string, payload: string | Buffer, isBinary: boolean): Promise<void> {
    const body = typeof payload === 'string' ? Buffer.from(payload) : payload;
    const header = this.#cluster ? HEADER_LENGTH + SEQUENCE_LENGTH : HEADER_LENGTH;
    const message = Buffer.allocUnsafe(header + body.length);
    message[0] = isBinary ? BINARY : TEXT;
    this.id.copy(message, 1);
    if (this.#cluster) {
      this.#sequence = (this.#sequence + 1) >>> 0;
      message.writeUInt32BE(this.#sequence, HEADER_LENGTH);
    }
    body.copy(message, header);
    try {
      await this.#firstConnection();
      if (this.#cluster) {
        if (this.#outage) throw new RedisUnreachableError('Redis Cluster: an outage is under way');
        await this.#timed(this.#cluster.sPublish(this.#channel(topic), message));
      } else await this.#publisher!.publish(this.#channel(topic), message);
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

  /** A topic's stream and meta keys; on a cluster both carry the topic's hash tag, so they share a slot. */
  #keys(topic: string): [stream: string, meta: string] {
    if (this.#cluster) {
      const tag = hashTag(topic);
      return [`${this.#prefix}stream:{${tag}}`, `${this.#prefix}meta:{${tag}}`];
    }
    return [`${this.#prefix}stream:${topic}`, `${this.#prefix}meta:${topic}`];
  }

  /** Runs a script on the topic's node. */
  #eval(script: string, topic: string, args: Array<string | Buffer>): Promise<unknown> {
    const options = { keys: this.#keys(topic), arguments: args };
    if (this.#cluster) {
      if (this.#outage) return Promise.reject(new RedisUnreachableError('Redis Cluster: an outage is under way'));
      return this.#timed(this.#cluster.eval(script, options as { keys: string[]; arguments: string[] }));
    }
    return this.#publisher!.eval(script, options as { keys: string[]; arguments: string[] });
  }

  async #append(topic: string, payload: Buffer, isBinary: boolean, sender: string): Promise<void> {
    await this.#firstConnection();
    const { maxLen, ttl } = this.#durable!;
    const args = [
      randomBytes(6).toString('base64url'),
      String(maxLen),
      payload,
      isBinary ? '1' : '0',
      sender,
      String(ttl),
    ];
    if (this.#cluster) args.push(this.#wakeChannel(topic));
    await this.#eval(APPEND, topic, args);
  }

  /** Session lookups waiting for the next MGET round, each with its key, deadline and caller's callbacks. */
  #finding: Lookup[] = [];
  /** An MGET round is scheduled or in flight: lookups that come meanwhile wait for the next one. */
  #findingBusy = false;
  /** Lookups that timed out since the queue was last compacted. */
  #findingTimedOut = 0;

  /**
   * One session lookup, batched: the lookups of one turn of the event loop, and those that come
   * while a round is in flight, go out together as the next round (MGETs of at most
   * {@link MGET_KEYS} keys, pipelined). When every client of a node resumes at once, that is a
   * few commands for hundreds of lookups instead of a GET each. Each lookup rejects with
   * {@link RedisUnreachableError} {@link STORE_TIMEOUT} ms after it was asked, answered or not.
   */
  #findBatched(key: string): Promise<string | undefined> {
    return new Promise((resolve, reject) => {
      const lookup: Lookup = { key, settled: false, resolve, reject, timer: undefined };
      lookup.timer = setTimeout(() => {
        settle(
          lookup,
          undefined,
          new RedisUnreachableError(`no answer to a session lookup within ${STORE_TIMEOUT} ms`),
        );
        // A round that stalls forever must not keep what times out behind it: the queue is
        // compacted once timeouts reach half its length (amortized, so a herd costs no n²).
        if (++this.#findingTimedOut * 2 >= this.#finding.length) {
          this.#finding = this.#finding.filter((waiting) => !waiting.settled);
          this.#findingTimedOut = 0;
        }
      }, STORE_TIMEOUT);
      this.#finding.push(lookup);
      if (this.#findingBusy) return;
      this.#findingBusy = true;
      setImmediate(() => this.#findNext());
    });
  }

  #findNext(): void {
    const batch = this.#finding.filter((lookup) => !lookup.settled);
    this.#finding = [];
    this.#findingTimedOut = 0;
    if (batch.length === 0) {
      this.#findingBusy = false;
      return;
    }
    const replies: Array<Promise<void>> = [];
    for (let from = 0; from < batch.length; from += MGET_KEYS) {
      const chunk = batch.slice(from, from + MGET_KEYS);
      let reply: Promise<Array<string | null>>;
      try {
        reply = this.#publisher!.mGet(chunk.map(({ key }) => key));
      } catch (error) {
        reply = Promise.reject(error);
      }
      replies.push(
        reply.then(
          (values) => {
            for (const [i, lookup] of chunk.entries()) settle(lookup, values[i] ?? undefined);
          },
          (error: unknown) => {
            for (const lookup of chunk) settle(lookup, undefined, error);
          },
        ),
      );
    }
    // The next round goes out when this one is answered, or once its lookups have timed out: a
    // stalled Redis holds a round at most STORE_TIMEOUT, not the lookups asked after it.
    let timer: NodeJS.Timeout | undefined;
    const stalled = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, STORE_TIMEOUT);
    });
    void Promise.race([Promise.all(replies), stalled]).then(() => {
      clearTimeout(timer);
      this.#findNext();
    });
  }

  /**
   * A resume's store command on one Redis, bounded by {@link STORE_TIMEOUT} (a command it gives
   * up on may still run). On a cluster every command is already bounded (`#timed`).
   */
  #bounded<T>(promise: Promise<T>, what: string): Promise<T> {
    if (this.#cluster) return promise;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new RedisUnreachableError(`no answer to ${what} within ${STORE_TIMEOUT} ms`)),
        STORE_TIMEOUT,
      );
    });
    return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
  }

  /** The position reads in flight for resumes' checks, by topic (shared by concurrent checks). */
  readonly #checking = new Map<string, Promise<[StreamPosition, number | undefined]>>();

  /** Where a stream stands now: its last id, epoch and count, and the count of its oldest entry (undefined if empty). */
  async #position(topic: string): Promise<[StreamPosition, number | undefined]> {
    const [id, epoch, count, oldest] = (await this.#eval(POSITION, topic, [])) as string[];
    return [{ id: id!, epoch: epoch!, count: Number(count) }, oldest ? Number(oldest) : undefined];
  }

  /** A topic's first local subscriber: this node reads its stream from where it stands now. */
  async #openStream(topic: string): Promise<void> {
    await this.#firstConnection();
    const [position] = await this.#position(topic);
    if (this.#closed || this.subscriberCount(topic) === 0 || this.#cursors.has(topic)) return;
    this.#cursors.set(topic, position);
    this.#dirty.add(topic);
    this.#wakeReader?.();
  }

  /** Waits until woken or `ms` pass; true if woken. */
  #sleep(ms: number): Promise<boolean> {
    return new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), ms);
      timer.unref();
      this.#wakeReader = () => {
        clearTimeout(timer);
        resolve(true);
      };
    });
  }

  /** Delivers the entries of one XREAD reply, each after its topic's position only. */
  #deliverEntries(topic: string, entries: Array<[Buffer, Buffer[]]>): void {
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

  /**
   * Reads the streams of the topics with local subscribers on a connection of its own (XREAD
   * blocks it). After an outage it goes on from each topic's last id: whatever Redis kept while
   * it was down is delivered, once.
   */
  async #readLoop(): Promise<void> {
    const reader = this.#reader!;
    while (!this.#closed) {
      if (this.#cursors.size === 0 || !reader.isReady) {
        await this.#sleep(READ_BLOCK);
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
        await delay(100);
        continue;
      }
      if (!Array.isArray(reply)) continue;
      const streamPrefix = `${this.#prefix}stream:`;
      for (const [key, entries] of reply as Array<[Buffer, Array<[Buffer, Buffer[]]>]>) {
        this.#deliverEntries(key.toString().slice(streamPrefix.length), entries);
      }
    }
  }

  /**
   * On a cluster a blocking XREAD can name one slot only, so the reader does not block: a
   * publish's script announces the entry on the topic's wake channel (`SPUBLISH`, same slot),
   * and the reader reads, without blocking, the topics it was woken for; every topic is read at
   * least every second too, and after an outage, in case a wake was lost.
   */
  async #clusterReadLoop(): Promise<void> {
    while (!this.#closed) {
      if (this.#dirty.size === 0 || this.#outage) {
        if (!(await this.#sleep(CLUSTER_POLL)) && !this.#outage) {
          for (const topic of this.#cursors.keys()) this.#dirty.add(topic);
        }
        continue;
      }
      const topics = [...this.#dirty].filter((topic) => this.#cursors.has(topic));
      this.#dirty.clear();
      const cluster = this.#cluster!;
      await Promise.all(
        topics.map(async (topic) => {
          const key = this.#keys(topic)[0];
          const cursor = this.#cursors.get(topic);
          if (!cursor) return;
          try {
            const reply = await this.#timed(
              cluster.sendCommand(
                key,
                false,
                ['XREAD', 'COUNT', String(READ_COUNT), 'STREAMS', key, cursor.id],
                AS_BUFFERS,
              ),
            );
            if (!Array.isArray(reply) || reply.length === 0) return;
            const entries = (reply as Array<[Buffer, Array<[Buffer, Buffer[]]>]>)[0]![1];
            this.#deliverEntries(topic, entries);
            // A full batch: there may be more.
            if (entries.length >= READ_COUNT) this.#dirty.add(topic);
          } catch (error) {
            if (this.#closed) return;
            this.#dirty.add(topic);
            this.report(error as Error);
          }
        }),
      );
      if (this.#outage) await delay(100);
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
          // Bounded here, not where the reader opens a topic: that read must not give up on a slow Redis.
          reading = this.#bounded(this.#position(topic), `the position of ${JSON.stringify(topic)}`).finally(() =>
            this.#checking.delete(topic),
          );
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
        const key = this.#keys(topic)[0];
        const command = ['XRANGE', key, `(${after}`, until, 'COUNT', String(count)];
        const reply = (await (this.#cluster
          ? this.#timed(this.#cluster.sendCommand(key, true, command, AS_BUFFERS))
          : this.#bounded(
              this.#publisher!.sendCommand(command, AS_BUFFERS),
              `a replay page of ${JSON.stringify(topic)}`,
            ))) as Array<[Buffer, Buffer[]]>;
        return reply.map(([id, fields]) => entryOf(id.toString(), fields));
      },
      // Session records are keys of their own, `<prefix>session:<id>`: on a cluster they spread
      // over the slots by id, each written on its own (a MULTI cannot span slots).
      keepSessions: async (sessions, ttl) => {
        const px = Math.ceil(ttl);
        if (this.#cluster) {
          const cluster = this.#cluster;
          await this.#timed(
            Promise.all(
              [...sessions].map(([id, endpoint]) => cluster.set(`${this.#prefix}session:${id}`, endpoint, { PX: px })),
            ),
          );
          return;
        }
        const multi = this.#publisher!.multi();
        for (const [id, endpoint] of sessions) multi.set(`${this.#prefix}session:${id}`, endpoint, { PX: px });
        await this.#bounded(multi.exec(), 'a session write');
      },
      findSession: async (id) => {
        const key = `${this.#prefix}session:${id}`;
        if (this.#cluster) return (await this.#timed(this.#cluster.get(key))) ?? undefined;
        return this.#findBatched(key);
      },
      // A resume's commands go through the publisher, which fails them at once while it is
      // not ready (no offline queue): known down until it reconnects. On a cluster: known down
      // from an outage's first failure until the hub has healed.
      reachable: () => (this.#cluster ? this.#outage === undefined && this.#up : this.#publisher!.isReady),
    };
  }

  /**
   * On a cluster: true when `message` comes after the last one delivered from its node on
   * `topic` (serial-number order, so the uint32 may wrap), which it then becomes.
   */
  #inOrder(topic: string, message: Buffer): boolean {
    const sender = message.toString('latin1', 1, HEADER_LENGTH);
    const sequence = message.readUInt32BE(HEADER_LENGTH);
    let senders = this.#lastDelivered.get(topic);
    if (senders === undefined) this.#lastDelivered.set(topic, (senders = new Map()));
    const last = senders.get(sender);
    if (last !== undefined && ((sequence - last) | 0) <= 0) return false;
    if (last === undefined && senders.size >= SEQUENCE_SENDERS) senders.delete(senders.keys().next().value!);
    senders.set(sender, sequence);
    return true;
  }

  readonly #onMessage = (message: Buffer, channel: Buffer): void => {
    if (this.#cluster && this.#durable && message.length === 0) {
      // A durable topic's wake: read its stream on the reader's next turn.
      const name = channel.toString();
      for (const topic of this.#cursors.keys()) {
        if (this.#wakeChannel(topic) === name) this.#dirty.add(topic);
      }
      this.#wakeReader?.();
      return;
    }
    if (message.length < HEADER_LENGTH) return;
    // Our own publish, echoed by Redis: its local subscribers already have it.
    if (message.compare(this.id, 0, ID_LENGTH, 1, HEADER_LENGTH) === 0) return;
    const topic = channel.toString().slice(this.#prefix.length);
    let body: Buffer;
    if (this.#cluster) {
      if (message.length < HEADER_LENGTH + SEQUENCE_LENGTH || !this.#inOrder(topic, message)) return;
      body = message.subarray(HEADER_LENGTH + SEQUENCE_LENGTH);
    } else body = message.subarray(HEADER_LENGTH);
    if (message[0] === BINARY) this.deliver(topic, body, true);
    else this.deliver(topic, body.toString(), false);
  };
}

/** Creates a Redis-backed hub: the same interface as `createHub()`, across processes. */
export function redisHub(options?: RedisHubOptions): RedisHub {
  return new RedisHub(options);
}

const OPTIONS = new Set(['url', 'prefix', 'client', 'durable', 'cluster']);

/** Unknown options, and options that cannot go together, are refused at once. */
function checkOptions(options: RedisHubOptions): void {
  if (options === null || typeof options !== 'object') throw invalidOption('redisHub(): options must be an object');
  for (const name of Object.keys(options)) {
    if (!OPTIONS.has(name)) throw invalidOption(`redisHub(): unknown option "${name}"`);
  }
  if (options.cluster === undefined) return;
  if (options.cluster === null || typeof options.cluster !== 'object')
    throw invalidOption('redisHub(): "cluster" must be { rootNodes: [{ url }, ...] } or a node-redis cluster client');
  if (options.url !== undefined || options.client !== undefined)
    throw invalidOption(
      'redisHub(): "cluster" does not go with "url" or "client": the nodes come from cluster.rootNodes, their settings from cluster.defaults',
    );
  const prefix = options.prefix ?? '';
  if (/[{}]/.test(prefix))
    throw invalidOption(
      `redisHub(): with "cluster", "prefix" must not contain "{" or "}" (the hub places keys by hash tags of its own), got ${JSON.stringify(prefix)}`,
    );
}

/** The options a cluster's clients are made from: given, or those of the client given. */
function clusterOptionsOf(cluster: RedisClusterOptions | Cluster): RedisClusterOptions {
  // A node-redis cluster client: the hub makes its own clients with its options (and rebuilds
  // them after an outage), so it reads them; the client given is left alone.
  const options = isClusterClient(cluster)
    ? (cluster as unknown as { _options: RedisClusterOptions })._options
    : cluster;
  const roots: unknown = options?.rootNodes;
  if (!Array.isArray(roots) || roots.length === 0)
    throw invalidOption('redisHub(): "cluster.rootNodes" must list at least one node: [{ url: "redis://host:port" }]');
  for (const node of roots) {
    if (node === null || typeof node !== 'object')
      throw invalidOption('redisHub(): each of "cluster.rootNodes" must be { url } or { socket: { host, port } }');
  }
  const urls = roots.map((node: { url?: string; socket?: { host?: string; port?: number } }) => ({
    url: node.url ?? `redis://${node.socket?.host ?? '127.0.0.1'}:${node.socket?.port ?? 6379}`,
  }));
  return { ...options, rootNodes: urls };
}

function isClusterClient(value: object): value is Cluster {
  return typeof (value as { sSubscribe?: unknown }).sSubscribe === 'function';
}

/**
 * A topic's hash tag on a cluster: the topic itself when it can be one (no braces, not empty,
 * no leading `#`), else `#` and a digest of it. Every key and channel of a durable topic carries
 * it, so that they share one slot.
 */
function hashTag(topic: string): string {
  if (topic !== '' && !/[{}]/.test(topic) && !topic.startsWith('#')) return topic;
  return `#${createHash('sha1').update(topic).digest('base64url').slice(0, 16)}`;
}

/**
 * On a cluster, a failure is an outage unless Redis answered with an error of its own that says
 * nothing about the cluster's health (a script error, say).
 */
function isClusterOutage(error: Error): boolean {
  if (!(error instanceof ErrorReply)) return true;
  return /^(CLUSTERDOWN|TRYAGAIN|MASTERDOWN|LOADING|READONLY)/.test(error.message);
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
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

/** A session lookup waiting for its MGET, until it is answered or times out. */
interface Lookup {
  key: string;
  settled: boolean;
  timer: NodeJS.Timeout | undefined;
  resolve(value: string | undefined): void;
  reject(error: unknown): void;
}

/** Answers a lookup once: the first of its reply, its failure and its timeout wins. */
function settle(lookup: Lookup, value: string | undefined, error?: unknown): void {
  if (lookup.settled) return;
  lookup.settled = true;
  clearTimeout(lookup.timer);
  if (error === undefined) lookup.resolve(value);
  else lookup.reject(error);
}
