import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EndpointStats } from '../src/endpoint/stats.js';

describe('EndpointStats', () => {
  it('rtt percentiles are nearest-rank over the last 256 samples, in a fixed ring', () => {
    fc.assert(
      fc.property(fc.array(fc.double({ min: 0, max: 10_000, noNaN: true }), { maxLength: 700 }), (samples) => {
        const stats = new EndpointStats();
        for (const sample of samples) stats.rtt(sample);
        const { rtt } = stats.snapshot();
        expect(rtt.count).toBe(samples.length);
        const kept = samples.slice(-256).sort((a, b) => a - b);
        const rank = (q: number): number | undefined =>
          kept.length === 0 ? undefined : kept[Math.ceil(q * kept.length) - 1];
        expect(rtt.p50).toBe(rank(0.5));
        expect(rtt.p90).toBe(rank(0.9));
        expect(rtt.p99).toBe(rank(0.99));
        expect(rtt.max).toBe(kept.at(-1));
      }),
    );
  });

  it('counts opens and closes by transport and code, refusals by status', () => {
    const stats = new EndpointStats();
    stats.opened('websocket');
    stats.opened('sse');
    stats.opened('websocket');
    stats.closed('websocket', 1000);
    stats.closed('sse', 1006);
    stats.refuse(429);
    stats.refuse(429);
    stats.refuse(0);
    expect(stats.snapshot()).toMatchObject({
      open: { websocket: 1, sse: 0 },
      handshakes: { accepted: 3, refused: { 0: 1, 429: 2 } },
      closes: { 1000: 1, 1006: 1 },
    });
  });
});
