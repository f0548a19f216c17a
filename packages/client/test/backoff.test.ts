import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { DEFAULT_RECONNECT, backoffCeiling, backoffDelay, retryAfterDelay, spreadDelay } from '../src/backoff.js';

describe('backoffDelay', () => {
  const options = { ...DEFAULT_RECONNECT, initialDelay: 100, maxDelay: 1000, factor: 2, jitter: 0 };

  it('grows by the factor and stops at maxDelay', () => {
    expect([0, 1, 2, 3, 4, 5, 20].map((attempt) => backoffDelay(attempt, options))).toEqual([
      100, 200, 400, 800, 1000, 1000, 1000,
    ]);
  });

  it('jitter takes up to its fraction off each wait', () => {
    const jittered = { ...options, jitter: 0.5 };
    expect(backoffDelay(2, jittered, () => 0)).toBe(400);
    expect(backoffDelay(2, jittered, () => 0.5)).toBe(300);
    expect(backoffDelay(2, jittered, () => 0.999999)).toBe(200);
    expect(backoffDelay(2, { ...options, jitter: 1 }, () => 0.999999)).toBe(0);
  });

  it('spreads clients out: 1000 draws cover the jitter range', () => {
    const draws = Array.from({ length: 1000 }, () => backoffDelay(3, { ...options, jitter: 0.5 }));
    expect(Math.min(...draws)).toBeGreaterThanOrEqual(400);
    expect(Math.max(...draws)).toBeLessThanOrEqual(800);
    expect(new Set(draws).size).toBeGreaterThan(100);
    expect(Math.min(...draws)).toBeLessThan(450);
    expect(Math.max(...draws)).toBeGreaterThan(750);
  });

  it('defaults: 1 s, doubling, up to 30 s, full jitter, a 5 s spread, no retry limit', () => {
    expect(DEFAULT_RECONNECT).toEqual({
      initialDelay: 1000,
      maxDelay: 30_000,
      factor: 2,
      jitter: 1,
      spread: 5000,
      maxRetries: Infinity,
    });
    expect(backoffDelay(0, DEFAULT_RECONNECT, () => 0)).toBe(1000);
    expect(backoffDelay(10, DEFAULT_RECONNECT, () => 0)).toBe(30_000);
  });
});

describe('full jitter, the spread and Retry-After, over generated settings and draws (fast-check)', () => {
  const settings = fc.record({
    initialDelay: fc.integer({ min: 0, max: 60_000 }),
    maxDelay: fc.integer({ min: 0, max: 120_000 }),
    factor: fc.double({ min: 1, max: 10, noNaN: true }),
    jitter: fc.double({ min: 0, max: 1, noNaN: true }),
    spread: fc.integer({ min: 0, max: 60_000 }),
    maxRetries: fc.constant(Infinity),
  });
  /** A draw of Math.random: [0, 1). */
  const draw = fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true });

  it('every wait lies between (1 − jitter) × ceiling and the ceiling, which is capped by maxDelay', () => {
    fc.assert(
      fc.property(settings, fc.nat({ max: 5000 }), draw, (options, attempt, r) => {
        const ceiling = backoffCeiling(attempt, options);
        const wait = backoffDelay(attempt, options, () => r);
        expect(Number.isFinite(wait)).toBe(true);
        expect(ceiling).toBeLessThanOrEqual(options.maxDelay);
        expect(wait).toBeGreaterThanOrEqual(Math.floor(ceiling * (1 - options.jitter)));
        expect(wait).toBeLessThanOrEqual(ceiling);
      }),
      { numRuns: 2000 },
    );
  });

  it('the ceiling grows by factor per attempt until maxDelay, whatever the attempt number', () => {
    fc.assert(
      fc.property(settings, fc.nat({ max: 5000 }), (options, attempt) => {
        const ceiling = backoffCeiling(attempt, options);
        const next = backoffCeiling(attempt + 1, options);
        expect(next).toBeGreaterThanOrEqual(ceiling);
        if (next < options.maxDelay) expect(next).toBeCloseTo(ceiling * options.factor, 3);
      }),
      { numRuns: 1000 },
    );
  });

  it('full jitter (the default): the wait is uniform over [0, ceiling], its quartiles about equally full', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 31 - 1 }), fc.nat({ max: 12 }), (seed, attempt) => {
        const random = seeded(seed);
        const ceiling = backoffCeiling(attempt, DEFAULT_RECONNECT);
        const quartiles = [0, 0, 0, 0];
        let outside = 0;
        for (let i = 0; i < 4000; i++) {
          const wait = backoffDelay(attempt, DEFAULT_RECONNECT, random);
          if (!(wait >= 0 && wait <= ceiling)) outside++;
          quartiles[Math.min(3, Math.floor((wait / ceiling) * 4))]!++;
        }
        expect(outside).toBe(0);
        // 1000 expected in each; 5 standard deviations (about 27) either side.
        for (const count of quartiles) expect(Math.abs(count - 1000)).toBeLessThan(140);
      }),
      { numRuns: 20 },
    );
  });

  it('the spread after a mass close is uniform in [0, min(spread, maxDelay))', () => {
    fc.assert(
      fc.property(settings, draw, (options, r) => {
        const wait = spreadDelay(options, () => r);
        const window = Math.min(options.spread, options.maxDelay);
        expect(wait).toBeGreaterThanOrEqual(0);
        if (window > 0) expect(wait).toBeLessThan(window);
        else expect(wait).toBe(0);
      }),
      { numRuns: 2000 },
    );
    const random = seeded(24);
    const draws = Array.from({ length: 4000 }, () => spreadDelay(DEFAULT_RECONNECT, random));
    const fifths = [0, 0, 0, 0, 0];
    for (const wait of draws) fifths[Math.floor(wait / 1000)]!++;
    for (const count of fifths) expect(Math.abs(count - 800)).toBeLessThan(130);
  });

  it('Retry-After: at least what was asked and the backoff, at most (1 + jitter) times what was asked', () => {
    fc.assert(
      fc.property(
        settings,
        fc.integer({ min: 0, max: 60_000 }),
        fc.nat({ max: 100_000 }),
        draw,
        (options, asked, backoff, r) => {
          const wait = retryAfterDelay(asked, backoff, options, () => r);
          expect(wait).toBeGreaterThanOrEqual(Math.max(asked, backoff));
          expect(wait).toBeLessThanOrEqual(Math.max(backoff, Math.round(asked * (1 + options.jitter))));
        },
      ),
      { numRuns: 2000 },
    );
  });
});

/** A small seeded generator (mulberry32): the same draws for the same seed. */
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
