import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AdmissionLimits, TokenBucket } from '../src/limits.js';
import type { Rate } from '../src/limits.js';

const rate = fc.record({
  count: fc.integer({ min: 1, max: 1000 }),
  per: fc.integer({ min: 1, max: 60_000 }),
  burst: fc.integer({ min: 1, max: 1000 }),
});

describe('TokenBucket', () => {
  it('never holds more than its burst nor less than nothing, and takes exactly when it has enough', () => {
    fc.assert(
      fc.property(
        rate,
        fc.array(fc.record({ dt: fc.integer({ min: 0, max: 5000 }), cost: fc.integer({ min: 1, max: 50 }) }), {
          maxLength: 60,
        }),
        (r, steps) => {
          let now = 1000;
          const bucket = new TokenBucket(r, now);
          for (const { dt, cost } of steps) {
            now += dt;
            const expected = Math.min(r.burst, bucket.tokens + ((now - bucket.last) * r.count) / r.per);
            const took = bucket.take(r, now, cost);
            expect(took).toBe(expected >= cost);
            expect(bucket.tokens).toBeCloseTo(took ? expected - cost : expected, 6);
            expect(bucket.tokens).toBeGreaterThanOrEqual(0);
            expect(bucket.tokens).toBeLessThanOrEqual(r.burst);
          }
        },
      ),
      { seed: 20261130 },
    );
  });

  it('at the boundary: a burst of exactly `burst` passes, one more waits exactly per/count', () => {
    const r: Rate = { count: 4, per: 1000, burst: 3 };
    const bucket = new TokenBucket(r, 0);
    expect([bucket.take(r, 0), bucket.take(r, 0), bucket.take(r, 0), bucket.take(r, 0)]).toEqual([
      true,
      true,
      true,
      false,
    ]);
    expect(bucket.wait(r, 0)).toBe(250);
    expect(bucket.take(r, 249)).toBe(false);
    expect(bucket.take(r, 250)).toBe(true);
    expect(bucket.full(r, 250 + 3 * 250)).toBe(true);
  });
});

describe('AdmissionLimits', () => {
  it('reserves and releases places: the cap holds under any order of reserve and release', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 1, max: 3 }),
        fc.array(fc.record({ reserve: fc.boolean(), address: fc.constantFrom('a', 'b', 'c') }), { maxLength: 80 }),
        (max, perAddress, steps) => {
          const limits = new AdmissionLimits(max, perAddress, undefined);
          const held: string[] = [];
          for (const step of steps) {
            if (step.reserve) {
              const refusal = limits.reserve(step.address, 0);
              const mine = held.filter((a) => a === step.address).length;
              if (held.length >= max) expect(refusal?.status).toBe(503);
              else if (mine >= perAddress) expect(refusal?.status).toBe(429);
              else expect(refusal).toBeUndefined();
              if (!refusal) held.push(step.address);
            } else {
              const index = held.indexOf(step.address);
              if (index !== -1) {
                held.splice(index, 1);
                limits.release(step.address);
              }
            }
            expect(limits.count).toBe(held.length);
          }
        },
      ),
      { seed: 20261130 },
    );
  });

  it('keeps handshake buckets for at most 10,000 addresses, however many attack', () => {
    const limits = new AdmissionLimits(Infinity, Infinity, { count: 1, per: 60_000, burst: 1 });
    for (let i = 0; i < 25_000; i++) {
      limits.reserve(`10.0.${i >> 8}.${i & 255}`, i);
      limits.release(`10.0.${i >> 8}.${i & 255}`);
    }
    expect(limits.trackedAddresses).toBeLessThanOrEqual(10_000);
    expect(limits.reserve('10.0.0.0', 25_000)).toBeUndefined();
  });
});
