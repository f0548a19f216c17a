import { describe, expect, it } from 'vitest';
import { DEFAULT_RECONNECT, backoffDelay } from '../src/backoff.js';

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
