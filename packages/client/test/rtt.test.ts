import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RttEstimator } from '../src/rtt.js';

describe('RttEstimator: srtt + 4 × rttvar, as TCP (RFC 6298)', () => {
  it('before any sample, the floor', () => expect(new RttEstimator().timeout(3000, 30_000)).toBe(3000));

  it('a first sample R gives R + 4 × R/2 = 3R; steady samples converge on R', () => {
    const rtt = new RttEstimator();
    rtt.sample(2000);
    expect(rtt.timeout(1000, 60_000)).toBe(6000);
    for (let i = 0; i < 100; i++) rtt.sample(2000);
    expect(rtt.timeout(1000, 60_000)).toBeLessThan(2100);
  });

  it('fast handshakes keep the floor; slow ones lengthen it, never past the ceiling', () => {
    const fast = new RttEstimator();
    for (let i = 0; i < 10; i++) fast.sample(5);
    expect(fast.timeout(3000, 30_000)).toBe(3000);
    const slow = new RttEstimator();
    slow.sample(20_000);
    expect(slow.timeout(3000, 30_000)).toBe(30_000);
  });

  it('whatever the samples (NaN, negative, huge), the timeout is finite and within [floor, ceiling]', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.double(), fc.nat({ max: 120_000 }))),
        fc.integer({ min: 1, max: 10_000 }),
        fc.integer({ min: 0, max: 100_000 }),
        (samples, floor, extra) => {
          const rtt = new RttEstimator();
          for (const sample of samples) rtt.sample(sample);
          const timeout = rtt.timeout(floor, floor + extra);
          expect(timeout).toBeGreaterThanOrEqual(floor);
          expect(timeout).toBeLessThanOrEqual(floor + extra);
        },
      ),
      { numRuns: 1000 },
    );
  });
});
