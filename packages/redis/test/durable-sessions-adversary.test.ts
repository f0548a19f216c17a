/**
 * The batched session lookups (one MGET round per turn) and writes (one MULTI/EXEC) under attack,
 * in a real Redis: generated schedules of stalls (`CLIENT PAUSE ... ALL`), trims (`XTRIM MAXLEN`)
 * between the lookup and the replay's page reads, clients that leave while their lookup is in
 * flight, publishes during the resumes and Redis restarts, over herds of 1 to 200 resumes; a
 * stall longer than the store's bound; a herd larger than one MGET's keys.
 *
 * Invariants: every resuming client gets every message once and in order, or an `unrecoverable`
 * event (or the session frame's list) before a gap, or a refusal the docs name (503 before the
 * 101, 1013 after it); nothing else, and nothing hangs. Afterwards no handshake is pending, no
 * connection is left, and a fresh resume is served.
 */
import diagnosticsChannel from 'node:diagnostics_channel';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import express from 'express';
import fc from 'fast-check';
import { createClient } from 'redis';
import WebSocket from 'ws';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { CHANNELS } from '@switchyard/core';
import type { Endpoint } from '@switchyard/core';
import { websocket } from '@switchyard/express';
import { redisHub } from '@switchyard/redis';
import type { RedisHub } from '@switchyard/redis';
import { delay } from '../../../test/helpers.js';
import { RedisServer } from './redis-server.js';

const PREFIX = 'adv:';
const STREAM = `${PREFIX}stream:feed`;
/** The store's bound on a resume's commands (STORE_TIMEOUT in src/index.ts). */
const STORE_TIMEOUT = 3000;
/** A resuming WebSocket's time to show its token: past it core closes with 1008, which a client never retries. */
const TOKEN_TIMEOUT = 10_000;
/** About half a second a run; SWITCHYARD_FUZZ_RUNS=40 for a longer one. */
const RUNS = Number(process.env.SWITCHYARD_FUZZ_RUNS ?? 15);
const SEED = Number(process.env.SWITCHYARD_FUZZ_SEED ?? 20261208);

let redis: RedisServer;
let hub: RedisHub;
let server: http.Server;
let port: number;
let admin: ReturnType<typeof createClient>;
let endpoint: Endpoint<any> | undefined;
/** What the endpoint stores as a session's owner (its path), read from a real session. */
let owner: string;
const onHandshake = (message: unknown): void => {
  endpoint ??= (message as { endpoint: Endpoint<any> }).endpoint;
};

beforeAll(async () => {
  diagnosticsChannel.subscribe(CHANNELS.handshakeStart, onHandshake);
  redis = await RedisServer.start();
  admin = createClient({ url: redis.url, socket: { reconnectStrategy: () => 50 } });
  admin.on('error', () => {});
  await admin.connect();
  hub = redisHub({ url: redis.url, prefix: PREFIX, durable: { maxLen: 100_000 } });
  hub.on('error', () => {});
  await hub.ready();
  const app = express();
  app.use(
    '/feed',
    websocket({
      hub,
      heartbeat: false,
      recovery: { maxDisconnectionDuration: 60_000 },
      open(ws) {
        ws.subscribe('feed');
      },
    }),
  );
  server = http.createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
  const first = await resume({ s: null, p: {} });
  await vi.waitFor(() => expect(first.session).toBeDefined(), { timeout: 10_000 });
  first.ws.terminate();
  await vi.waitFor(async () => expect(await admin.get(`${PREFIX}session:${first.session!.id}`)).toBeTruthy());
  owner = (await admin.get(`${PREFIX}session:${first.session!.id}`))!;
});

afterAll(async () => {
  diagnosticsChannel.unsubscribe(CHANNELS.handshakeStart, onHandshake);
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  await hub.close();
  await admin.quit().catch(() => {});
  await redis.stop();
});

type Position = [id: string, epoch: string, count: number];
type Seen =
  | { type: 'message'; epoch: string; count: number; payload: string }
  | { type: 'unrecoverable' }
  | { type: 'session'; recovered: boolean; told: boolean };

/** One resuming client: what it saw, and how it ended. */
interface Resume {
  ws: WebSocket;
  seen: Seen[];
  session?: { id: string; recovered: boolean };
  /** An HTTP answer instead of a 101. */
  refused?: number;
  /** The close code, once closed. */
  closed?: number;
  /** Closed by the test (a client that left). */
  left?: boolean;
}

/** Opens a resuming connection and sends `token` as soon as it is open, or when `held` resolves. */
function resume(token: unknown, held?: Promise<void>): Resume {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/feed?__sy=1&__sy_resume=1`);
  const client: Resume = { ws, seen: [] };
  ws.on('unexpected-response', (_req, res) => {
    client.refused = res.statusCode;
    res.resume();
    ws.terminate();
  });
  ws.on('error', () => {});
  ws.on('open', () => {
    const send = (): void => ws.send(`\u0000sy:resume${JSON.stringify(token)}`);
    if (held) void held.then(send);
    else send();
  });
  ws.on('close', (code) => {
    client.closed = code;
  });
  ws.on('message', (data: Buffer) => {
    const text = data.toString();
    if (text.startsWith('\u0000sy:m')) {
      const newline = text.indexOf('\n');
      const [, , epoch, count] = JSON.parse(text.slice('\u0000sy:m'.length, newline)) as [
        string,
        string,
        string,
        number,
      ];
      client.seen.push({ type: 'message', epoch, count, payload: text.slice(newline + 1) });
    } else if (text.startsWith('\u0000sy:unrecoverable')) {
      client.seen.push({ type: 'unrecoverable' });
    } else if (text.startsWith('\u0000sy:session')) {
      const session = JSON.parse(text.slice('\u0000sy:session'.length)) as {
        id: string;
        recovered: boolean;
        unrecoverable: Array<{ topic: string }>;
      };
      client.session = session;
      client.seen.push({
        type: 'session',
        recovered: session.recovered,
        told: session.unrecoverable.some(({ topic }) => topic === 'feed'),
      });
    }
  });
  return client;
}

/** Whether a client's outcome is known: refused, closed, or its session frame came. */
const settled = (client: Resume): boolean =>
  client.refused !== undefined || client.closed !== undefined || client.session !== undefined;

/**
 * The promise, for one client that resumed from `from`: each message directly follows the one
 * before (same epoch, next count), unless an `unrecoverable` event (a frame, or the topic in the
 * session frame's list) came between them. A duplicate, a reordering or a silent gap breaks it.
 */
function checkOrder(from: Position, client: Resume): void {
  let last = { epoch: from[1], count: from[2] };
  // A session that expired (Redis restarted) starts live, before its frame says so for the topic.
  let told = client.session?.recovered === false;
  for (const seen of client.seen) {
    if (seen.type === 'unrecoverable' || (seen.type === 'session' && seen.told)) told = true;
    if (seen.type !== 'message') continue;
    if (!told) {
      // Before the stream existed, its first entry may have any epoch.
      const epoch = last.epoch === '' && last.count === 0 ? seen.epoch : last.epoch;
      expect({ epoch: seen.epoch, count: seen.count }, `after ${JSON.stringify(last)}`).toEqual({
        epoch,
        count: last.count + 1,
      });
    }
    last = seen;
    told = false;
  }
}

/** The stream's entries now, as positions. */
async function positions(): Promise<Position[]> {
  const entries = await admin.xRange(STREAM, '-', '+');
  return entries.map(({ id, message }) => [id, message.e!, Number(message.n)]);
}

/** `n` sessions of this endpoint, written as the endpoint writes them. */
async function sessions(n: number): Promise<string[]> {
  const ids = Array.from({ length: n }, () => randomBytes(16).toString('base64url'));
  const multi = admin.multi();
  for (const id of ids) multi.set(`${PREFIX}session:${id}`, owner, { PX: 60_000 });
  await multi.exec();
  return ids;
}

/** Publishes until Redis takes it (it may be restarting). */
async function publishSurely(payload: string): Promise<void> {
  await vi.waitFor(() => hub.publish('feed', payload), { timeout: 10_000, interval: 100 });
}

/** A small seeded generator (mulberry32), to pick each client's position. */
function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** After a run: no handshake pending, no connection left, and a fresh resume is served. */
async function expectQuiet(): Promise<void> {
  await vi.waitFor(
    () => {
      const stats = endpoint!.stats();
      expect(stats.handshakes.pending).toBe(0);
      expect(stats.open).toEqual({ websocket: 0, sse: 0 });
    },
    { timeout: 10_000 },
  );
  const [id] = await sessions(1);
  const fresh = resume({ s: id, p: {} });
  try {
    await vi.waitFor(() => expect(fresh.session).toMatchObject({ id, recovered: true }), { timeout: 10_000 });
  } finally {
    fresh.ws.terminate();
  }
}

const at = fc.nat(150);
const action = fc.oneof(
  fc.record({ kind: fc.constant('stall' as const), at, ms: fc.integer({ min: 50, max: 1500 }) }),
  fc.record({ kind: fc.constant('trim' as const), at, keep: fc.nat(40) }),
  fc.record({ kind: fc.constant('leave' as const), at, share: fc.double({ min: 0, max: 1, noNaN: true }) }),
  fc.record({ kind: fc.constant('burst' as const), at, count: fc.integer({ min: 1, max: 30 }) }),
  fc.record({ kind: fc.constant('restart' as const), at }),
);
type Action = typeof action extends fc.Arbitrary<infer T> ? T : never;

async function perform(step: Action, clients: Resume[], random: () => number): Promise<void> {
  await delay(step.at);
  switch (step.kind) {
    case 'stall':
      await admin.clientPause(step.ms, 'ALL').catch(() => {});
      return;
    case 'trim':
      await admin.xTrim(STREAM, 'MAXLEN', step.keep).catch(() => {});
      return;
    case 'leave':
      for (const client of clients) {
        if (random() >= step.share) continue;
        client.left = true;
        client.ws.terminate();
      }
      return;
    case 'burst':
      await Promise.allSettled(Array.from({ length: step.count }, (_, i) => hub.publish('feed', `b${i}`)));
      return;
    case 'restart':
      await redis.stop();
      await redis.restart();
      return;
  }
}

it(`generated schedules of stalls, trims, leaving clients, bursts and restarts around a herd's resumes: each client gets every message once and in order, or is told, or is refused (${RUNS} runs, seed ${SEED})`, async () => {
  let round = 0;
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 1, max: 200 }),
      fc.array(action, { maxLength: 4 }),
      fc.integer(),
      async (herd, steps, seed) => {
        const random = seeded(seed);
        const marker = `end${round++}`;
        await publishSurely('before');
        for (let i = 0; i < 20; i++) await hub.publish('feed', `m${i}`);
        const kept = await positions();
        const ids = await sessions(herd);
        const froms = ids.map((): Position => {
          const index = Math.floor(random() * (kept.length + 1));
          return index === 0 ? ['0-0', '', 0] : kept[index - 1]!;
        });
        const clients = ids.map((id, i) => resume({ s: id, p: { feed: froms[i] } }));
        try {
          await Promise.all(steps.map((step) => perform(step, clients, random)));
          // Every client's outcome comes: nothing waits forever.
          await vi.waitFor(() => expect(clients.filter((c) => !c.left && !settled(c)).length).toBe(0), {
            timeout: STORE_TIMEOUT * 4,
          });
          await publishSurely(marker);
          const live = clients.filter((c) => !c.left && c.session !== undefined && c.closed === undefined);
          // Those still open get the message after the schedule (a gap before it is told).
          await vi.waitFor(
            () => {
              for (const client of live) {
                if (client.closed !== undefined) continue;
                expect(client.seen.some((seen) => seen.type === 'message' && seen.payload === marker)).toBe(true);
              }
            },
            { timeout: 10_000 },
          );
          clients.forEach((client, i) => {
            if (client.left) return;
            // Refused before the 101 (the store is down: 503), or closed with 1013 (resume again): both documented.
            if (client.refused !== undefined) expect(client.refused).toBe(503);
            else if (client.closed !== undefined && client.session === undefined) expect(client.closed).toBe(1013);
            else if (client.closed !== undefined) expect(client.closed).toBe(1013);
            checkOrder(froms[i]!, client);
          });
        } finally {
          for (const client of clients) client.ws.terminate();
        }
        await expectQuiet();
      },
    ),
    { numRuns: RUNS, seed: SEED, endOnFailure: true },
  );
}, 180_000);

it("entries trimmed between the check of a herd's positions and its first page read: each client is told before the gap, then gets the rest in order", async () => {
  await publishSurely('before');
  for (let i = 0; i < 60; i++) await hub.publish('feed', `t${i}`);
  const kept = await positions();
  const from = kept.at(-50)!;
  const ids = await sessions(100);
  const store = hub.durable!;
  const range = store.range;
  let trims = 0;
  // The check has passed (the entry after each client's position is there); the trim lands
  // before the replay's first read.
  store.range = async (...args) => {
    if (trims++ === 0) await admin.xTrim(STREAM, 'MAXLEN', 20);
    return range.apply(store, args);
  };
  const clients = ids.map((id) => resume({ s: id, p: { feed: from } }));
  try {
    await vi.waitFor(() => expect(clients.filter((c) => !settled(c)).length).toBe(0), { timeout: 10_000 });
    await publishSurely('after');
    await vi.waitFor(
      () => {
        for (const client of clients) expect(client.seen.at(-1)).toMatchObject({ type: 'message', payload: 'after' });
      },
      { timeout: 10_000 },
    );
    expect(trims).toBeGreaterThan(0);
    for (const client of clients) {
      expect(client.session).toMatchObject({ recovered: true });
      checkOrder(from, client);
      expect(client.seen.some((seen) => seen.type === 'unrecoverable')).toBe(true);
    }
  } finally {
    store.range = range;
    for (const client of clients) client.ws.terminate();
  }
  await expectQuiet();
});

it('a stall longer than the bound: every resume of the herd is closed with 1013 (resume again), never 1008 or a hang; once Redis answers, they resume', async () => {
  const ids = await sessions(200);
  const [last] = (await positions()).slice(-1);
  const from: Position = last ?? ['0-0', '', 0];
  // CLIENT UNPAUSE would wait too: the pause ends by itself.
  const PAUSE = STORE_TIMEOUT + 3000;
  await admin.clientPause(PAUSE, 'ALL');
  const paused = Date.now();
  const clients = ids.map((id) => resume({ s: id, p: { feed: from } }));
  try {
    // Well before core's 10 s token timer, which would close with 1008 (never retried).
    await vi.waitFor(() => expect(clients.filter((c) => c.closed === undefined).length).toBe(0), {
      timeout: TOKEN_TIMEOUT + 2000,
    });
    expect(new Set(clients.map((c) => c.closed))).toEqual(new Set([1013]));
    expect(clients.every((c) => c.session === undefined)).toBe(true);
    // All of it happened while Redis was still paused.
    expect(Date.now() - paused).toBeLessThan(PAUSE);
  } finally {
    for (const client of clients) client.ws.terminate();
  }
  await delay(Math.max(0, PAUSE - (Date.now() - paused)));
  const again = ids.slice(0, 20).map((id) => resume({ s: id, p: { feed: from } }));
  try {
    await vi.waitFor(() => expect(again.filter((c) => c.session?.recovered !== true).length).toBe(0), {
      timeout: 10_000,
    });
  } finally {
    for (const client of again) client.ws.terminate();
  }
  await expectQuiet();
}, 40_000);

it('a herd of 2,500 resumes behind a stalled MGET: MGETs of at most 1,000 keys, and each client gets its own session', async () => {
  const HERD = 2500;
  const ids = await sessions(HERD);
  await admin.configSet({ 'slowlog-log-slower-than': '0', 'slowlog-max-len': '100000' });
  await admin.sendCommand(['SLOWLOG', 'RESET']);
  let go!: () => void;
  const held = new Promise<void>((resolve) => {
    go = resolve;
  });
  const clients = ids.map((id) => resume({ s: id, p: {} }, held));
  try {
    await vi.waitFor(() => expect(clients.filter((c) => c.ws.readyState !== WebSocket.OPEN).length).toBe(0), {
      timeout: 30_000,
    });
    // The first lookups' MGET waits out a pause shorter than the bound; the rest gather behind it.
    await admin.clientPause(1000, 'ALL');
    go();
    await vi.waitFor(() => expect(clients.filter((c) => !settled(c)).length).toBe(0), { timeout: 30_000 });
    expect(clients.map((c) => c.session)).toEqual(ids.map((id) => ({ id, recovered: true, unrecoverable: [] })));
    const log = (await admin.sendCommand(['SLOWLOG', 'GET', '-1'])) as Array<[unknown, unknown, unknown, string[]]>;
    const mgets = log.map(([, , , args]) => args).filter((args) => String(args[0]).toLowerCase() === 'mget');
    // SLOWLOG keeps 32 arguments and says how many more there were.
    const keys = mgets.map((args) => {
      const more = /^\.\.\. \((\d+) more arguments\)$/.exec(String(args.at(-1)));
      return more ? args.length - 2 + Number(more[1]) : args.length - 1;
    });
    expect(keys.reduce((sum, n) => sum + n, 0)).toBeGreaterThanOrEqual(HERD);
    expect(Math.max(...keys)).toBeLessThanOrEqual(1000);
  } finally {
    await admin.configSet({ 'slowlog-log-slower-than': '10000' });
    for (const client of clients) client.ws.terminate();
  }
  await expectQuiet();
}, 60_000);
