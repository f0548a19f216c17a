/**
 * Shared replay reads: the resumes of one topic on one node share their reads of the durable
 * store. When every client of a node comes back at once, each with a gap ending near the head of
 * the same topic, one page read from the store serves every client resuming from within it.
 *
 * Per store and topic, the pages read lately are kept, each with the stretch of ids it is known
 * to cover: (after, end], where `end` is the last id it holds, or for an empty page the requested
 * upper bound (nothing lies in between), as core's replay loop trusts only an empty answer to say
 * it is done. A request is answered from those pages,
 * walking from one to the next; what they do not cover is read from the store, one read per
 * topic at a time: a request that finds one in flight waits for it and looks again, and a read
 * stops where the next known page starts. So N clients resuming from anywhere in the same few
 * pages cost about as many reads as there are pages, plus one per client that arrives older than
 * every page read so far (in random order, about ln N of them), instead of N per page.
 *
 * Entries of a stream never change; a stream reset (a new epoch) drops the topic's pages. Pages
 * go after {@link LINGER} ms unused, and the oldest go first beyond {@link MAX_CACHED_ENTRIES}.
 */
import type { DurableEntry, DurableStore } from './options.js';
import { compareIds } from './token.js';

/** How long (ms) a topic's pages are kept after their last use: the length of a reconnect storm. */
const LINGER = 2000;
/** Entries kept across all topics of one store at most (about maxReplay's default, twice). */
const MAX_CACHED_ENTRIES = 20_000;

/** A page read from the store, and the stretch of ids it covers: (after, end]. */
interface Page {
  after: string;
  end: string;
  entries: DurableEntry[];
  usedAt: number;
}

/** The pages of one topic, and its read in flight. */
interface TopicPages {
  pages: Page[];
  reading: Promise<unknown> | undefined;
}

/** What the pages give for a request: the entries, or where a read must start. */
type Served = { entries: DurableEntry[] } | { readFrom: string; readTo: string };

/** The shared reads of one durable store. */
export class SharedReads {
  readonly #store: DurableStore;
  readonly #topics = new Map<string, TopicPages>();
  #cached = 0;
  #sweep: ReturnType<typeof setInterval> | undefined;

  constructor(store: DurableStore) {
    this.#store = store;
  }

  /** Entries after `after` up to `until`, oldest first, at most `count`: as the store's `range`, shared. */
  async range(topic: string, after: string, until: string, count: number): Promise<DurableEntry[]> {
    let pages = this.#topics.get(topic);
    if (!pages) {
      pages = { pages: [], reading: undefined };
      this.#topics.set(topic, pages);
      this.#sweep ??= setInterval(() => this.#forget(performance.now()), LINGER).unref();
    }
    for (;;) {
      const served = this.#serve(pages, after, until, count);
      if ('entries' in served) return served.entries;
      if (pages.reading) {
        await pages.reading.catch(() => {});
        continue;
      }
      const { readFrom, readTo } = served;
      const reading = this.#store.range(topic, readFrom, readTo, count).then((entries) => {
        this.#add(pages, {
          after: readFrom,
          // A page with entries covers up to its last one, whether or not it is full: a store
          // may answer with fewer than `count`, and only an empty answer says nothing is left.
          end: entries.length > 0 ? entries.at(-1)!.id : readTo,
          entries,
          usedAt: performance.now(),
        });
      });
      pages.reading = reading;
      try {
        await reading;
      } finally {
        pages.reading = undefined;
      }
    }
  }

  /** Entries read so far, across topics (for tests). */
  get cachedEntries(): number {
    return this.#cached;
  }

  /** The pages kept for `topic` (for tests). */
  pageCount(topic: string): number {
    return this.#topics.get(topic)?.pages.length ?? 0;
  }

  /**
   * Answers from the pages: walks them from `after`, taking entries up to `until` and `count`.
   * Stops with what it has at a stretch no page covers, or says where to read when it has none.
   */
  #serve(topic: TopicPages, after: string, until: string, count: number): Served {
    const taken: DurableEntry[] = [];
    let at = after;
    const now = performance.now();
    for (;;) {
      const page = topic.pages.find((one) => compareIds(one.after, at) <= 0 && compareIds(at, one.end) < 0);
      if (!page) {
        if (taken.length > 0) return { entries: taken };
        // Read up to where the next known page starts, or `until`.
        let to = until;
        for (const one of topic.pages)
          if (compareIds(one.after, at) > 0 && compareIds(one.after, to) < 0) to = one.after;
        return { readFrom: at, readTo: to };
      }
      page.usedAt = now;
      const { entries } = page;
      for (let i = firstAfter(entries, at); i < entries.length; i++) {
        const entry = entries[i]!;
        if (taken.length >= count || compareIds(entry.id, until) > 0) break;
        taken.push(entry);
      }
      if (taken.length >= count || compareIds(until, page.end) <= 0) return { entries: taken };
      at = page.end;
    }
  }

  #add(topic: TopicPages, page: Page): void {
    const epoch = page.entries[0]?.epoch;
    if (epoch !== undefined) {
      // A reset stream: what was read of the one before is of no use now.
      const stale = topic.pages.filter((one) => one.entries.length > 0 && one.entries[0]!.epoch !== epoch);
      for (const one of stale) this.#drop(topic, one);
    }
    this.#cached += page.entries.length;
    // A page that starts where another ends (or ends where one starts) joins it: while clients
    // resume, the node's position moves on, and each later resume reads the few entries after
    // the last page. Kept apart, those pages would grow in number with the herd's length, and
    // every lookup walks them; joined, a topic's pages stay as few as the gaps between them.
    const before = topic.pages.find((one) => compareIds(one.end, page.after) === 0);
    let joined = page;
    if (before) {
      for (const entry of page.entries) before.entries.push(entry);
      before.end = page.end;
      before.usedAt = page.usedAt;
      joined = before;
    } else {
      topic.pages.push(page);
    }
    const after = topic.pages.find((one) => one !== joined && compareIds(one.after, joined.end) === 0);
    if (after) {
      for (const entry of after.entries) joined.entries.push(entry);
      joined.end = after.end;
      topic.pages.splice(topic.pages.indexOf(after), 1);
    }
    if (this.#cached > MAX_CACHED_ENTRIES) this.#trim(joined);
  }

  #drop(topic: TopicPages, page: Page): void {
    const index = topic.pages.indexOf(page);
    if (index === -1) return;
    topic.pages.splice(index, 1);
    this.#cached -= page.entries.length;
  }

  /** Beyond the cap, the least recently used pages go (never `keep`, the one just read into). */
  #trim(keep: Page): void {
    const all: Array<[TopicPages, Page]> = [];
    for (const topic of this.#topics.values())
      for (const page of topic.pages) if (page !== keep) all.push([topic, page]);
    all.sort((a, b) => a[1].usedAt - b[1].usedAt);
    for (const [topic, page] of all) {
      if (this.#cached <= MAX_CACHED_ENTRIES) break;
      this.#drop(topic, page);
    }
  }

  /** Drops the pages unused for LINGER ms, and the topics left with none. */
  #forget(now: number): void {
    for (const [name, topic] of this.#topics) {
      for (const page of [...topic.pages]) if (now - page.usedAt >= LINGER) this.#drop(topic, page);
      if (topic.pages.length === 0 && !topic.reading) this.#topics.delete(name);
    }
    if (this.#topics.size === 0) {
      clearInterval(this.#sweep);
      this.#sweep = undefined;
    }
  }
}

/** The index of the first of `entries` (in id order) after id `at`: a binary search. */
function firstAfter(entries: DurableEntry[], at: string): number {
  let low = 0;
  let high = entries.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (compareIds(entries[middle]!.id, at) <= 0) low = middle + 1;
    else high = middle;
  }
  return low;
}

const shared = new WeakMap<DurableStore, SharedReads>();

/** The shared reads of `store`, one per store for the process. */
export function sharedReadsOf(store: DurableStore): SharedReads {
  let reads = shared.get(store);
  if (!reads) shared.set(store, (reads = new SharedReads(store)));
  return reads;
}
