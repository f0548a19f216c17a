/**
 * Failover on a real Redis Cluster (three masters, three replicas, cluster-node-timeout 1 s): a
 * live topic's slot migrated to another master, then the master of a live topic SIGKILLed while
 * publishes stream in and its replica promoted. Durable topics: every acknowledged publish
 * reaches a resumable client once and in order, or an `unrecoverable` event covers it; the hub
 * reports the outage once and the recovery once, like the single-node hub.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import { connect } from '@switchyard/client';
import type { SwitchyardSocket, WebSocketConstructor } from '@switchyard/client';
import type { HubOutage } from '@switchyard/core';
import { Inbox } from '@switchyard/core/internal';
import { websocket } from '@switchyard/express';
import { type RedisHub, redisHub } from '@switchyard/redis';
import { delay } from '../../../test/helpers.js';
import { deliveryViolations } from '../../../test/recovery/delivery.js';
import type { Seen } from '../../../test/recovery/delivery.js';
import { RedisCluster } from './redis-cluster.js';

const report = (line: string): void => {
  if (process.env.SWITCHYARD_REPORT) console.info(`[cluster] ${line}`);
};

let cluster: RedisCluster;
beforeAll(async () => {
  cluster = await RedisCluster.start();
}, 30_000);
afterAll(async () => {
  await cluster?.stop();
});

const hubs: RedisHub[] = [];
const servers: http.Server[] = [];
const sockets: SwitchyardSocket[] = [];
afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.close();
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    server.close();
  }
  await Promise.all(hubs.splice(0).map((hub) => hub.close()));
});

interface Watched {
  hub: RedisHub;
  errors: Error[];
  recoveries: HubOutage[];
}

async function hub(prefix: string, durable: boolean): Promise<Watched> {
  const created = redisHub({ cluster: { rootNodes: cluster.rootNodes }, prefix, durable: durable && { ttl: 0 } });
  hubs.push(created);
  const errors: Error[] = [];
  const recoveries: HubOutage[] = [];
  created.on('error', (error) => errors.push(error));
  created.on('recovered', (outage) => recoveries.push(outage));
  await created.ready();
  return { hub: created, errors, recoveries };
}

/** A node with a resumable endpoint, and a client of it that records what it sees. */
async function resumable(node: RedisHub, topic: string): Promise<Seen[]> {
  const app = express();
  app.use(
    '/feed',
    websocket({
      hub: node,
      heartbeat: false,
      recovery: { maxDisconnectionDuration: 10_000 },
      open(ws) {
        ws.subscribe(topic);
      },
    }),
  );
  const server = http.createServer(app);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const socket = connect(`ws://127.0.0.1:${(server.address() as AddressInfo).port}/feed`, {
    WebSocket: WebSocket as unknown as WebSocketConstructor,
    transports: ['websocket'],
    recover: true,
  });
  sockets.push(socket);
  const seen: Seen[] = [];
  socket.addEventListener('message', (event) => seen.push({ message: Number(event.data) }));
  socket.addEventListener('unrecoverable', (event) => {
    for (const { reason } of event.topics) seen.push({ unrecoverable: reason });
  });
  await vi.waitFor(() => expect(socket.resumable).toBe(true), { timeout: 5000 });
  await node.whenSubscribed(topic);
  return seen;
}

/**
 * Publishes 0, 1, 2… every 2 ms until stopped; records each outcome. Without waiting for the
 * replies, or (`awaited`) each after the previous one's reply: a slot migration can reorder
 * publishes that are in flight at once (node-redis sends a redirected command again after those
 * sent after it), so the order promise is about publishes that follow each other's replies.
 */
function publishing(node: RedisHub, topic: string, awaited = false) {
  const outcomes: Array<{ i: number; at: number; result?: 'ok' | 'rejected' }> = [];
  let stopped = false;
  const running = (async () => {
    for (let i = 0; !stopped; i++) {
      const outcome: (typeof outcomes)[number] = { i, at: Date.now() };
      outcomes.push(outcome);
      const published = node.publish(topic, String(i)).then(
        () => {
          outcome.result = 'ok';
        },
        () => {
          outcome.result = 'rejected';
        },
      );
      if (awaited) await published;
      await delay(2);
    }
  })();
  return {
    outcomes,
    async stop(): Promise<void> {
      stopped = true;
      await running;
      await vi.waitFor(() => expect(outcomes.every((o) => o.result !== undefined)).toBe(true), { timeout: 8000 });
    },
    acknowledged: () => outcomes.filter((o) => o.result === 'ok').map((o) => o.i),
  };
}

describe('redis hub on a cluster, failover', () => {
  it("a live topic's slot migrates to another master: the hub follows it, durable topics lose nothing, pub/sub goes on", async () => {
    const [a, b] = [await hub('move:', true), await hub('move:', true)];
    const [p, q] = [await hub('move:', false), await hub('move:', false)];
    const seen = await resumable(b.hub, 'moving');
    const plain: string[] = [];
    q.hub.add(new Inbox((payload) => plain.push(payload.toString())), 'plain');
    await q.hub.whenSubscribed('plain');
    const durableRun = publishing(a.hub, 'moving', true);
    const plainRun = publishing(p.hub, 'plain');
    await delay(300);
    // The durable topic's slot (its stream, meta and wake channel), and the pub/sub topic's.
    for (const key of ['move:stream:{moving}', 'move:plain']) {
      const slot = await cluster.slotOf(key);
      const from = await cluster.masterOf(slot);
      const masters = await Promise.all([0, 5461, 10923].map((s) => cluster.masterOf(s)));
      await cluster.migrate(slot, masters.find((node) => node !== from)!);
      expect(await cluster.masterOf(slot)).not.toBe(from);
    }
    await delay(500);
    const movedAt = Date.now();
    await delay(500);
    await Promise.all([durableRun.stop(), plainRun.stop()]);
    const acknowledged = durableRun.acknowledged();
    await vi.waitFor(
      () => expect(seen.filter((s) => 'message' in s).length).toBeGreaterThanOrEqual(acknowledged.length),
      {
        timeout: 8000,
      },
    );
    expect(deliveryViolations(seen, acknowledged)).toEqual([]);
    expect(seen.filter((s) => 'unrecoverable' in s)).toEqual([]);
    // Pub/sub: at most once and in order, and everything published after the move arrives.
    const got = plain.map(Number);
    expect(got).toEqual([...new Set(got)].sort((x, y) => x - y));
    const after = plainRun.outcomes.filter((o) => o.at > movedAt);
    expect(after.length).toBeGreaterThan(50);
    expect(after.filter((o) => o.result !== 'ok' || !got.includes(o.i))).toEqual([]);
    report(
      `slot migration: durable ${durableRun.outcomes.length} published, ${acknowledged.length} acknowledged, all delivered once in order; pub/sub ${plainRun.outcomes.length} published, ${got.length} delivered, errors ${[a, b, p, q].map((w) => w.errors.length).join('/')}`,
    );
  }, 40_000);

  it('the master of a live topic is SIGKILLed mid-publish: one error and one recovery per hub; every acknowledged publish delivered once and in order, or told', async () => {
    const [a, b] = [await hub('kill:', true), await hub('kill:', true)];
    const [p, q] = [await hub('kill:', false), await hub('kill:', false)];
    const seen = await resumable(b.hub, 'steady');
    // The pub/sub topic on the same master, so that the kill cuts both.
    const slot = await cluster.slotOf('kill:stream:{steady}');
    const victim = await cluster.masterOf(slot);
    let plainTopic = 'p0';
    for (let i = 0; (await cluster.masterOf(await cluster.slotOf(`kill:${plainTopic}`))) !== victim; i++)
      plainTopic = `p${i}`;
    const plain: string[] = [];
    q.hub.add(new Inbox((payload) => plain.push(payload.toString())), plainTopic);
    await q.hub.whenSubscribed(plainTopic);
    const durableRun = publishing(a.hub, 'steady');
    const plainRun = publishing(p.hub, plainTopic);
    await delay(300);
    const killedAt = Date.now();
    await cluster.kill(victim);
    await vi.waitFor(() => expect([a, b, p, q].map((w) => w.recoveries.length)).toEqual([1, 1, 1, 1]), {
      timeout: 15_000,
      interval: 20,
    });
    const recoveredAt = Date.now();
    expect(await cluster.masterOf(slot)).not.toBe(victim);
    await delay(400);
    await Promise.all([durableRun.stop(), plainRun.stop()]);
    // Reported once as it started, once as it ended.
    expect([a, b, p, q].map((w) => w.errors.length)).toEqual([1, 1, 1, 1]);
    expect(a.recoveries[0]!.failedPublishes).toBeGreaterThan(0);
    const acknowledged = durableRun.acknowledged();
    const rejected = durableRun.outcomes.filter((o) => o.result === 'rejected').length;
    expect(rejected).toBeGreaterThan(20);
    await vi.waitFor(
      () => {
        const last = seen.filter((s): s is { message: number } => 'message' in s).at(-1)?.message ?? -1;
        expect(last).toBeGreaterThanOrEqual(acknowledged.at(-1)!);
      },
      { timeout: 8000 },
    );
    // The promise: every acknowledged publish once and in order, or an event that covers it.
    expect(deliveryViolations(seen, acknowledged)).toEqual([]);
    // Pub/sub: at most once, in order; everything acknowledged after both nodes recovered arrives.
    const got = plain.map(Number);
    expect(got).toEqual([...new Set(got)].sort((x, y) => x - y));
    const after = plainRun.outcomes.filter((o) => o.at > recoveredAt);
    expect(after.length).toBeGreaterThan(50);
    expect(after.filter((o) => o.result !== 'ok' || !got.includes(o.i))).toEqual([]);
    const received = seen.filter((s) => 'message' in s).length;
    report(
      `master SIGKILL: failover in ${recoveredAt - killedAt} ms; durable ${durableRun.outcomes.length} published, ${acknowledged.length} acknowledged, ${rejected} rejected, ${received} delivered, events ${JSON.stringify(seen.filter((s) => 'unrecoverable' in s))}; pub/sub ${plainRun.outcomes.length} published, ${got.length} delivered`,
    );
  }, 40_000);
});
