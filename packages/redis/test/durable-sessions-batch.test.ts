/**
 * A herd's session traffic in a real Redis: when many clients resume on a node at once, their
 * session lookups go out as a few MGETs and their session writes as a few transactions, not a
 * GET, a MULTI, a SET and an EXEC each. Each client still gets its own session back, and an
 * unknown one (including ids built to look like another's key) resumes nothing.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import fc from 'fast-check';
import { createClient } from 'redis';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { websocket } from '@switchyard/express';
import { redisHub } from '@switchyard/redis';
import type { RedisHub } from '@switchyard/redis';
import { openWs } from '../../../test/helpers.js';
import { RedisServer } from './redis-server.js';

let redis: RedisServer;
let hub: RedisHub;
let server: http.Server;
let port: number;
let admin: ReturnType<typeof createClient>;

beforeAll(async () => {
  redis = await RedisServer.start();
  admin = createClient({ url: redis.url });
  await admin.connect();
  hub = redisHub({ url: redis.url, prefix: 'batch:', durable: {} });
  await hub.ready();
  const app = express();
  app.use(
    '/feed',
    websocket({
      hub,
      heartbeat: false,
      recovery: { maxDisconnectionDuration: 30_000 },
      open(ws) {
        ws.subscribe('feed');
      },
    }),
  );
  server = http.createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  await hub.close();
  await admin.quit();
  await redis.stop();
});

interface Session {
  id: string;
  recovered: boolean;
}

/** Calls per command so far (`get`, `mget`, `exec`...). */
async function calls(): Promise<Record<string, number>> {
  const text = await admin.info('commandstats');
  const out: Record<string, number> = {};
  for (const [, name, count] of text.matchAll(/cmdstat_(\w+):calls=(\d+)/g)) out[name!] = Number(count);
  return out;
}

/**
 * Opens a connection per token, then presents every token at once (as a herd's clients do, each
 * as soon as its 101 comes); the session frames, and the sockets (left open).
 */
async function presentAll(tokens: unknown[]) {
  const sockets = await Promise.all(tokens.map(() => openWs(`ws://127.0.0.1:${port}/feed?__sy=1&__sy_resume=1`)));
  const sessions: Array<Session | undefined> = [];
  sockets.forEach((ws, i) => {
    ws.on('message', (data) => {
      const text = data.toString();
      if (text.startsWith('\u0000sy:session')) sessions[i] = JSON.parse(text.slice('\u0000sy:session'.length));
    });
  });
  sockets.forEach((ws, i) => {
    ws.send(`\u0000sy:resume${JSON.stringify(tokens[i])}`);
  });
  await vi.waitFor(() => expect(sessions.filter(Boolean)).toHaveLength(tokens.length), { timeout: 10_000 });
  return sockets.map((ws, i) => ({ ws, session: sessions[i]! }));
}

const present = async (token: unknown) => (await presentAll([token]))[0]!;

const N = 200;

it(`${N} clients resuming at once: each gets its own session back, in a few MGETs and transactions`, async () => {
  const first = await presentAll(Array.from({ length: N }, () => ({ s: null, p: {} })));
  const ids = first.map(({ session }) => session.id);
  expect(new Set(ids).size).toBe(N);
  for (const { ws } of first) ws.terminate();
  // The writes of those sessions are done with (batched, they may trail the session frames).
  await vi.waitFor(async () => expect(Number(await admin.dbSize())).toBeGreaterThanOrEqual(N));
  const before = await calls();
  const again = await presentAll(ids.map((id) => ({ s: id, p: { feed: ['0-0', '', 0] } })));
  const after = await calls();
  try {
    expect(again.map(({ session }) => session)).toMatchObject(ids.map((id) => ({ id, recovered: true })));
    const used = (name: string) => (after[name] ?? 0) - (before[name] ?? 0);
    // One GET, MULTI, SET and EXEC per client before: 200 of each.
    expect(used('get')).toBe(0);
    expect(used('mget')).toBeLessThanOrEqual(N / 10);
    expect(used('exec')).toBeLessThanOrEqual(N / 10);
  } finally {
    for (const { ws } of again) ws.terminate();
  }
});

it('session ids of any shape, presented together with real ones: only the real ones resume (fast-check)', async () => {
  const real = await present({ s: null, p: {} });
  real.ws.terminate();
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/), { minLength: 1, maxLength: 20 }),
      async (forged) => {
        const all = await presentAll([
          { s: real.session.id, p: {} },
          ...forged.filter((id) => id !== real.session.id).map((id) => ({ s: id, p: {} })),
        ]);
        try {
          expect(all[0]!.session).toMatchObject({ id: real.session.id, recovered: true });
          for (const { session } of all.slice(1)) expect(session.recovered).toBe(false);
        } finally {
          for (const { ws } of all) ws.terminate();
        }
      },
    ),
    { numRuns: 20 },
  );
});

it('a resume with 50 entries to replay: the replay, its position and the session frame leave in a few writes, not one each', async () => {
  // A session subscribed to `feed`, and where it stands.
  const first = await openWs(`ws://127.0.0.1:${port}/feed?__sy=1&__sy_resume=1`);
  let position: { id: string; epoch: string; count: number } | undefined;
  let session: Session | undefined;
  first.on('message', (data) => {
    const text = data.toString();
    if (text.startsWith('\u0000sy:position')) position = JSON.parse(text.slice('\u0000sy:position'.length));
    if (text.startsWith('\u0000sy:session')) session = JSON.parse(text.slice('\u0000sy:session'.length));
  });
  first.send(`\u0000sy:resume${JSON.stringify({ s: null, p: {} })}`);
  await vi.waitFor(() => expect(session && position).toBeTruthy(), { timeout: 10_000 });
  first.terminate();
  for (let i = 0; i < 50; i++) await hub.publish('feed', `m${i}`);

  // The node's side of the next connection: its socket's writes, counted once the token is sent.
  let counting = false;
  let writes = 0;
  const spy = (socket: import('node:net').Socket) => {
    const target = socket as unknown as Record<'_write' | '_writev', (...args: unknown[]) => unknown>;
    for (const name of ['_write', '_writev'] as const) {
      const original = target[name]!;
      target[name] = function (this: unknown, ...args: unknown[]) {
        if (counting) writes++;
        return original.apply(this, args);
      };
    }
  };
  server.once('connection', spy);
  const ws = await openWs(`ws://127.0.0.1:${port}/feed?__sy=1&__sy_resume=1`);
  const replayed: string[] = [];
  let resumed: Session | undefined;
  ws.on('message', (data) => {
    const text = data.toString();
    if (text.startsWith('\u0000sy:session')) resumed = JSON.parse(text.slice('\u0000sy:session'.length));
    else if (text.startsWith('\u0000sy:m')) replayed.push(text.slice(text.indexOf('\n') + 1));
  });
  try {
    counting = true;
    ws.send(
      `\u0000sy:resume${JSON.stringify({ s: session!.id, p: { feed: [position!.id, position!.epoch, position!.count] } })}`,
    );
    await vi.waitFor(() => expect(resumed).toMatchObject({ id: session!.id, recovered: true }), { timeout: 10_000 });
    expect(replayed).toEqual(Array.from({ length: 50 }, (_, i) => `m${i}`));
    // One write each would be 52 (50 entries, the position, the session frame).
    expect(writes).toBeLessThanOrEqual(4);
  } finally {
    ws.terminate();
  }
});
