// The queue behind messages(): a next() that timed out must not keep a place in the queue, or
// the next message would go to it and the caller waiting now would time out too.
import { describe, expect, it } from 'vitest';
import { AsyncQueue } from './helpers.js';

describe('AsyncQueue', () => {
  it('a timed-out next() leaves the queue: the next item goes to the caller waiting now', async () => {
    const queue = new AsyncQueue<string>();
    await expect(queue.next(10)).rejects.toThrow('no item within 10 ms');
    expect(queue.waiting).toBe(0);
    const waiting = queue.next(1000);
    queue.push('a');
    await expect(waiting).resolves.toBe('a');
  });

  it('hands items out in order, each once, to callers waiting or not', async () => {
    const queue = new AsyncQueue<number>();
    const first = queue.next();
    const second = queue.next();
    queue.push(1);
    queue.push(2);
    queue.push(3);
    expect(await Promise.all([first, second, queue.next()])).toEqual([1, 2, 3]);
    expect(queue.all).toEqual([1, 2, 3]);
  });

  it('after end(), queued items still come out, then next() fails at once', async () => {
    const queue = new AsyncQueue<number>();
    const waiting = queue.next();
    queue.push(1);
    queue.push(2);
    queue.end(new Error('closed'));
    expect(await waiting).toBe(1);
    expect(await queue.next()).toBe(2);
    await expect(queue.next(60_000)).rejects.toThrow('closed');
  });
});
