import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MessageQueue } from '../src/connection/iteration.js';

/** A control that records what the queue asked of the socket. */
function control() {
  const calls: string[] = [];
  let paused = false;
  return {
    calls,
    get paused() {
      return paused;
    },
    pauseReading() {
      expect(paused).toBe(false);
      paused = true;
      calls.push('pause');
    },
    resumeReading() {
      expect(paused).toBe(true);
      paused = false;
      calls.push('resume');
    },
    detached() {
      calls.push('detached');
    },
  };
}

describe('MessageQueue', () => {
  it('keeps order, pauses at 16 messages or the high-water mark, resumes at half, never pauses twice', async () => {
    const step = fc.oneof(
      fc.record({ push: fc.integer({ min: 0, max: 40_000 }) }),
      fc.constant({ next: true as const }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(step, { maxLength: 200 }), async (steps) => {
        const c = control();
        const queue = new MessageQueue<number>(c, 64 * 1024);
        let pushed = 0;
        const taken: number[] = [];
        const waiting: Array<Promise<IteratorResult<{ data: number }>>> = [];
        for (const s of steps) {
          if ('push' in s) {
            queue.push(pushed++, true, s.push);
            // The queue may hold more than the limits only while reading is paused.
            if (!c.paused) expect(queue.length).toBeLessThan(16);
          } else {
            waiting.push(queue.next());
          }
          expect(queue.paused).toBe(c.paused);
        }
        queue.end();
        for (;;) {
          const result = await queue.next();
          if (result.done) break;
          waiting.push(Promise.resolve(result));
        }
        for (const result of await Promise.all(waiting)) if (!result.done) taken.push(result.value.data);
        expect(taken).toEqual(Array.from({ length: pushed }, (_, i) => i));
      }),
    );
  });

  it('return() (a break) drops what is queued, resumes a paused socket and detaches', async () => {
    const c = control();
    const queue = new MessageQueue<string>(c, 64 * 1024);
    for (let i = 0; i < 20; i++) queue.push(String(i), false, 1);
    expect(c.calls).toEqual(['pause']);
    await queue.return();
    expect(c.calls).toEqual(['pause', 'detached', 'resume']);
    queue.push('late', false, 1);
    expect(await queue.next()).toEqual({ value: undefined, done: true });
  });

  it('a waiting next() gets the next push directly, and end() finishes it', async () => {
    const queue = new MessageQueue<string>(control(), 1024);
    const first = queue.next();
    queue.push('a', false, 1);
    expect(await first).toEqual({ value: { data: 'a', isBinary: false }, done: false });
    const second = queue.next();
    queue.end();
    expect(await second).toEqual({ value: undefined, done: true });
  });
});
