import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { DurableEntry, DurableStore } from '../src/recovery/options.js';
import { SharedReads } from '../src/recovery/shared-reads.js';
import { compareIds } from '../src/recovery/token.js';

/** An in-memory stream per topic with XRANGE's semantics, counting its reads. */
function memoryStore(streams: Record<string, DurableEntry[]>, latency: () => number, cap = Infinity) {
  const reads: Array<[string, string, string, number]> = [];
  const store: DurableStore = {
    position: () => undefined,
    check: async () => undefined,
    range: async (topic, after, until, count) => {
      reads.push([topic, after, until, count]);
      await new Promise((resolve) => setTimeout(resolve, latency()));
      return (
        (streams[topic] ?? [])
          .filter((e) => compareIds(e.id, after) > 0 && compareIds(e.id, until) <= 0)
          // A store may answer with fewer than `count` (its own page size): only empty means done.
          .slice(0, Math.min(count, cap))
      );
    },
    keepSessions: async () => {},
    findSession: async () => undefined,
  };
  return { store, reads };
}

function stream(length: number, epoch = 'e1'): DurableEntry[] {
  // Ids with gaps and several per millisecond, as Redis gives them.
  return Array.from({ length }, (_, i) => ({
    id: `${1000 + Math.floor(i / 3) * 7}-${i % 3}`,
    epoch,
    count: i + 1,
    payload: `m${i}`,
    isBinary: false,
    sender: '',
  }));
}

/** Core's replay loop (recovery/replay.ts) over `reads`: everything after `from` up to `until`. */
async function replay(reads: SharedReads, topic: string, from: string, until: string, page: number) {
  const got: DurableEntry[] = [];
  let after = from;
  while (compareIds(after, until) < 0) {
    const entries = await reads.range(topic, after, until, page);
    if (entries.length === 0) break;
    got.push(...entries);
    after = entries.at(-1)!.id;
  }
  return got;
}

describe('SharedReads: resumes of one topic share their reads', () => {
  it('100 clients resuming from within the same 400 entries: each gets exactly its gap, in about 3 reads instead of 200', async () => {
    const entries = stream(600);
    const { store, reads } = memoryStore({ t: entries }, () => 1);
    const shared = new SharedReads(store);
    const head = entries.at(-1)!.id;
    const starts = Array.from({ length: 100 }, (_, i) => 200 + ((i * 37) % 400));
    const results = await Promise.all(starts.map((s) => replay(shared, 't', entries[s - 1]!.id, head, 200)));
    results.forEach((got, i) => {
      expect(got.map((e) => e.id)).toEqual(entries.slice(starts[i]).map((e) => e.id));
    });
    // Unshared, each client reads ceil(gap / 200) pages: 200 reads here.
    expect(reads.length).toBeLessThanOrEqual(10);
  });

  it('a herd that resumes while the head moves on: the pages read after each other join, so a topic keeps one', async () => {
    const entries = stream(400);
    const { store, reads } = memoryStore({ t: entries }, () => 0);
    const shared = new SharedReads(store);
    // Every client had entry 100 at the crash; the head moves one entry on per 10 clients, as
    // the node's position does while publishing goes on during the herd.
    for (let i = 0; i < 1000; i++) {
      const head = entries[200 + Math.floor(i / 10)]!.id;
      const got = await replay(shared, 't', entries[99]!.id, head, 200);
      expect(got.map((e) => e.id)).toEqual(entries.slice(100, 201 + Math.floor(i / 10)).map((e) => e.id));
    }
    // Apart, each move of the head would add a page: 100 of them, walked by every later client.
    expect(shared.pageCount('t')).toBe(1);
    expect(reads.length).toBeLessThanOrEqual(102);
  });

  it('generated streams, positions, arrival orders, page sizes, store page caps and latencies: nothing lost, nothing twice, in order', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 120 }),
        fc.array(
          fc.record({ from: fc.nat(130), until: fc.nat(130), delay: fc.nat(5), page: fc.integer({ min: 1, max: 40 }) }),
          {
            minLength: 1,
            maxLength: 12,
          },
        ),
        fc.array(fc.nat(3), { minLength: 1, maxLength: 8 }),
        fc.option(fc.integer({ min: 1, max: 30 }), { nil: undefined }),
        async (length, clients, latencies, cap) => {
          const entries = stream(length);
          let n = 0;
          const { store } = memoryStore({ t: entries }, () => latencies[n++ % latencies.length]!, cap);
          const shared = new SharedReads(store);
          const idAt = (i: number): string => (i === 0 || length === 0 ? '0-0' : entries[Math.min(i, length) - 1]!.id);
          await Promise.all(
            clients.map(async ({ from, until, delay, page }) => {
              await new Promise((resolve) => setTimeout(resolve, delay));
              const [a, b] = [Math.min(from, until), Math.max(from, until)];
              const got = await replay(shared, 't', idAt(a), idAt(b), page);
              const want = entries.filter((e) => compareIds(e.id, idAt(a)) > 0 && compareIds(e.id, idAt(b)) <= 0);
              expect(got.map((e) => e.id)).toEqual(want.map((e) => e.id));
            }),
          );
        },
      ),
      { numRuns: 100 },
    );
  });

  it('a reset stream (a new epoch) drops the pages of the old one', async () => {
    const streams = { t: stream(10, 'old') };
    const { store } = memoryStore(streams, () => 0);
    const shared = new SharedReads(store);
    expect((await shared.range('t', '0-0', streams.t.at(-1)!.id, 5)).map((e) => e.epoch)).toEqual(Array(5).fill('old'));
    streams.t = stream(10, 'new').map((e) => ({ ...e, id: `9${e.id}` }));
    await shared.range('t', '0-0', streams.t.at(-1)!.id, 5);
    expect(shared.cachedEntries).toBe(5);
  });

  it('a failed read fails its own request; one waiting on it reads again by itself', async () => {
    let fail = true;
    const entries = stream(10);
    const { store } = memoryStore({ t: entries }, () => 1);
    const range = store.range;
    store.range = async (...args) => {
      if (fail) {
        fail = false;
        await new Promise((resolve) => setTimeout(resolve, 5));
        throw new Error('store down');
      }
      return range(...args);
    };
    const shared = new SharedReads(store);
    const head = entries.at(-1)!.id;
    const first = shared.range('t', '0-0', head, 5);
    const second = shared.range('t', '0-0', head, 5);
    await expect(first).rejects.toThrow('store down');
    expect((await second).length).toBe(5);
  });
});
