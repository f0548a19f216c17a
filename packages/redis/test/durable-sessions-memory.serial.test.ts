/**
 * Session lookups against a stalled Redis, measured: 20,000 lookups asked over 4 s while Redis is
 * paused each reject with `SWITCHYARD_ERR_REDIS_UNREACHABLE` within the store's 3 s bound of
 * being asked (none waits for the pause to end), a lookup after the pause is answered, and the
 * heap after GC is back near where it was: nothing of the timed-out lookups (their promises,
 * timers, keys) is kept. Serial: it reads the clock and the heap.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { createClient } from 'redis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { redisHub } from '@switchyard/redis';
import type { RedisHub } from '@switchyard/redis';
import { RedisServer } from './redis-server.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const STORE_TIMEOUT = 3000;
let redis: RedisServer;
let hub: RedisHub;
let admin: ReturnType<typeof createClient>;

beforeAll(async () => {
  redis = await RedisServer.start();
  admin = createClient({ url: redis.url });
  await admin.connect();
  hub = redisHub({ url: redis.url, prefix: 'mem:', durable: {} });
  hub.on('error', () => {});
  await hub.ready();
});

afterAll(async () => {
  await hub.close();
  await admin.quit();
  await redis.stop();
});

function heap(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

it('20,000 lookups during a 5 s stall each reject within the bound; afterwards lookups are answered and the heap is back', async () => {
  const store = hub.durable!;
  await admin.set('mem:session:known', '/feed');
  // Warm: the code paths and node-redis's buffers.
  await Promise.all(Array.from({ length: 2000 }, (_, i) => store.findSession(`warm${i}`)));
  const before = heap();

  await admin.clientPause(5000, 'ALL');
  const paused = Date.now();
  const late: number[] = [];
  const codes = new Set<string>();
  const asked: Array<Promise<void>> = [];
  for (let round = 0; round < 40; round++) {
    const at = Date.now();
    for (let i = 0; i < 500; i++) {
      asked.push(
        store.findSession(`s${round}-${i}`).then(
          () => {
            late.push(Date.now() - at);
          },
          (error: { code?: string }) => {
            codes.add(String(error.code));
            late.push(Date.now() - at);
          },
        ),
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  await Promise.all(asked);
  // None waited for the pause to end: each came back within the bound (and a loaded machine's slack).
  expect(Date.now() - paused).toBeLessThan(5000 + 1000);
  expect(Math.max(...late)).toBeLessThan(STORE_TIMEOUT + 1000);
  expect([...codes]).toEqual(['SWITCHYARD_ERR_REDIS_UNREACHABLE']);

  // Once Redis answers again, so do lookups.
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, 5000 - (Date.now() - paused)) + 100));
  expect(await store.findSession('known')).toBe('/feed');
  asked.length = 0;
  late.length = 0;
  const grown = heap() - before;
  // 20,000 lookups kept would be several MB (a promise, two closures, a timer and a key each).
  expect(grown).toBeLessThan(2 * 1024 * 1024);
}, 30_000);
