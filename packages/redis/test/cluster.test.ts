/**
 * The hub on a real Redis Cluster (three masters, three replicas): the shared hub suite in both
 * modes, sharded pub/sub and the durable topics' hash tags, and options refused clearly.
 */
import { createCluster } from 'redis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { Inbox } from '@switchyard/core/internal';
import { type RedisHub, redisHub } from '@switchyard/redis';
import { runHubSuite } from '../../../test/hub-suite.js';
import { RedisCluster, redisCli } from './redis-cluster.js';

let cluster: RedisCluster;
beforeAll(async () => {
  cluster = await RedisCluster.start();
}, 30_000);
afterAll(async () => {
  await cluster?.stop();
});

const hubs: RedisHub[] = [];
runHubSuite({
  name: 'redis cluster',
  async create() {
    const hub = redisHub({ cluster: { rootNodes: cluster.rootNodes }, prefix: 'suite:' });
    hubs.push(hub);
    await hub.ready();
    return hub;
  },
  async cleanup() {
    await Promise.all(hubs.splice(0).map((hub) => hub.close()));
  },
  settle: 100,
});

const durableHubs: RedisHub[] = [];
let durableRound = 0;
runHubSuite({
  name: 'redis cluster durable',
  async create() {
    const hub = redisHub({
      cluster: { rootNodes: cluster.rootNodes },
      durable: true,
      prefix: `durable${durableRound}:`,
    });
    durableHubs.push(hub);
    await hub.ready();
    return hub;
  },
  async cleanup() {
    await Promise.all(durableHubs.splice(0).map((hub) => hub.close()));
    durableRound++;
  },
  settle: 150,
  orderedWithDirectSends: false,
});

describe('redis hub on a cluster', () => {
  /** A subscriber that is not a socket: it records what reaches this node. */
  async function listen(node: RedisHub, topic: string): Promise<string[]> {
    const received: string[] = [];
    node.add(new Inbox((payload) => received.push(payload.toString())), topic);
    await node.whenSubscribed(topic);
    return received;
  }

  it("a node's pub/sub messages that arrive out of order (as a slot migration can hand them over) are delivered at most once and in order", async () => {
    // What two masters and a redirected publish can do during a move, played by a raw cluster
    // client: one node's numbered messages arriving late, twice, and across a uint32 wrap.
    const raw = createCluster({ rootNodes: cluster.rootNodes });
    const hub = redisHub({ cluster: { rootNodes: cluster.rootNodes }, prefix: 'order:' });
    try {
      await Promise.all([raw.connect(), hub.ready()]);
      const received = await listen(hub, 'feed');
      const frame = (sender: number, sequence: number, text: string): Buffer => {
        const message = Buffer.alloc(1 + 8 + 4 + Buffer.byteLength(text));
        message[0] = 0; // text
        message.fill(sender, 1, 9);
        message.writeUInt32BE(sequence >>> 0, 9);
        message.write(text, 13);
        return message;
      };
      const plays: Array<[number, number]> = [
        [1, 1],
        [1, 2],
        [1, 5],
        [1, 3],
        [1, 4],
        [2, 1],
        [1, 5],
        [1, 6],
        [2, 2],
        [4, 0xfffffffe],
        [4, 0xffffffff],
        [4, 0x100000000],
        [4, 0xffffffff],
        [4, 0x100000001],
        [2, 1],
      ];
      for (const [sender, sequence] of plays)
        await raw.sPublish('order:feed', frame(sender, sequence, `${sender}:${sequence >>> 0}`));
      // Bytes no switchyard node sends: shorter than a numbered header, and empty.
      await raw.sPublish('order:feed', Buffer.from([0, 1, 2]));
      await raw.sPublish('order:feed', Buffer.alloc(12));
      await raw.sPublish('order:feed', frame(3, 1, 'last'));
      await vi.waitFor(() => expect(received.at(-1)).toBe('last'));
      expect(received).toEqual([
        '1:1',
        '1:2',
        '1:5',
        '2:1',
        '1:6',
        '2:2',
        '4:4294967294',
        '4:4294967295',
        '4:0',
        '4:1',
        'last',
      ]);
    } finally {
      await Promise.all([raw.close(), hub.close()]);
    }
  });

  it('topics are sharded channels on the master of their slot, not classic ones', async () => {
    const given = createCluster({ rootNodes: cluster.rootNodes });
    const [a, b] = [
      redisHub({ cluster: given, prefix: 'shard:' }),
      redisHub({ cluster: { rootNodes: cluster.rootNodes.slice(0, 1) }, prefix: 'shard:' }),
    ];
    try {
      await Promise.all([a.ready(), b.ready()]);
      const topics = ['alpha', 'beta', 'gamma', 'delta', 'epsilon', 'zeta'];
      const inboxes = await Promise.all(topics.map((topic) => listen(b, topic)));
      for (const topic of topics) await a.publish(topic, `on ${topic}`);
      await vi.waitFor(() => expect(inboxes).toEqual(topics.map((topic) => [`on ${topic}`])));
      // Each channel is subscribed on the master of its slot only, as a shard channel.
      for (const topic of topics) {
        const master = await cluster.masterOf(await cluster.slotOf(`shard:${topic}`));
        for (const node of cluster.live()) {
          const shard = (await redisCli(['-p', String(node.port), 'PUBSUB', 'SHARDNUMSUB', `shard:${topic}`])).split(
            '\n',
          );
          expect(Number(shard[1])).toBe(node === master ? 1 : 0);
          const classic = (await redisCli(['-p', String(node.port), 'PUBSUB', 'CHANNELS', 'shard:*'])).trim();
          expect(classic).toBe('');
        }
      }
      // The topics landed on more than one master.
      const masters = new Set(
        await Promise.all(
          topics.map(async (topic) => (await cluster.masterOf(await cluster.slotOf(`shard:${topic}`))).port),
        ),
      );
      expect(masters.size).toBeGreaterThan(1);
      // The client given is the user's: the hub never connected or closed it.
      expect(given.isOpen).toBe(false);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it("a durable topic's stream, meta and wake channel share one slot, for any topic name", async () => {
    const hub = redisHub({ cluster: { rootNodes: cluster.rootNodes }, durable: true, prefix: 'tags:' });
    try {
      await hub.ready();
      for (const topic of ['plain', '', '}x', '{a}b', '#1', 'x{'.repeat(50)]) {
        const received = await listen(hub, topic);
        await hub.publish(topic, `in ${topic}`);
        await vi.waitFor(() => expect(received).toEqual([`in ${topic}`]));
      }
      const keys = new Set<string>();
      for (const node of cluster.live()) {
        for (const key of (await redisCli(['-p', String(node.port), 'KEYS', 'tags:*'])).split('\n'))
          if (key) keys.add(key);
      }
      expect(keys.size).toBe(12);
      for (const key of keys) {
        const twin = key.startsWith('tags:stream:')
          ? key.replace('tags:stream:', 'tags:meta:')
          : key.replace('tags:meta:', 'tags:stream:');
        expect(keys.has(twin)).toBe(true);
        expect(await cluster.slotOf(key)).toBe(await cluster.slotOf(twin));
      }
    } finally {
      await hub.close();
    }
  });

  it('refuses options that cannot work on a cluster, and unknown ones, with a TypeError', () => {
    const rootNodes = [{ url: 'redis://127.0.0.1:1' }];
    expect(() => redisHub({ cluster: { rootNodes: [] } })).toThrow('"cluster.rootNodes" must list at least one node');
    expect(() => redisHub({ cluster: {} as never })).toThrow('"cluster.rootNodes"');
    expect(() => redisHub({ cluster: 'redis://x' as never })).toThrow('"cluster" must be');
    expect(() => redisHub({ cluster: { rootNodes }, url: 'redis://127.0.0.1:1' })).toThrow('does not go with "url"');
    expect(() => redisHub({ cluster: { rootNodes }, client: {} })).toThrow('does not go with "url" or "client"');
    expect(() => redisHub({ cluster: { rootNodes }, prefix: '{app}:' })).toThrow('must not contain "{"');
    expect(() => redisHub({ clusters: { rootNodes } } as never)).toThrow('unknown option "clusters"');
    const error = (() => {
      try {
        redisHub({ cluster: { rootNodes: [] } });
      } catch (caught) {
        return caught as Error & { code?: string };
      }
    })();
    expect(error).toBeInstanceOf(TypeError);
    expect(error?.code).toBe('SWITCHYARD_ERR_INVALID_OPTION');
  });
});
