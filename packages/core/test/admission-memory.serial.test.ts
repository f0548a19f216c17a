// The per-address tables of admission (src/limits.ts) are bounded in bytes, not only in entries:
// behind a trusted proxy a client writes its own "address" into X-Forwarded-For, and 4 KB of it
// per entry made 10,000 entries cost about 40 MB. Serial: it measures the heap after GC.
import { randomBytes } from 'node:crypto';
import { IncomingMessage } from 'node:http';
import { Socket } from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { Admissions } from '../src/endpoint/admission.js';
import { HandshakeRejection } from '../src/errors.js';
import { resolveOptions } from '../src/endpoint/options-resolve.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

function heapAfterGc(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

const ENTRIES = 10_000;

describe('admission tables in bytes', () => {
  const req = new IncomingMessage(new Socket());
  req.headers = { host: 'example.test' };
  req.url = '/chat';
  const admissions = (): Admissions<unknown> =>
    new Admissions(
      resolveOptions({ maxConnectionsPerAddress: 1_000, handshakeRate: { handshakes: 1, per: 60_000 } }),
      undefined,
      { closing: false, report: () => {} },
    );

  it('keeps nothing of 10,000 forged 4 KB forwarded addresses: each gets 400', () => {
    const checks = admissions();
    const before = heapAfterGc();
    let refused = 0;
    for (let i = 0; i < ENTRIES; i++) {
      // Flat and distinct, as header values are (padEnd would share one filler string).
      const forged = randomBytes(2048).toString('hex');
      const result = checks.admit(req, '/chat', [], { remoteAddress: forged }, undefined);
      if (result instanceof HandshakeRejection && result.status === 400) refused++;
    }
    const grown = heapAfterGc() - before;
    expect(refused).toBe(ENTRIES);
    expect(checks.limits.trackedAddresses).toBe(0);
    expect(checks.limits.connectedAddresses).toBe(0);
    // Before the fix: +40 MB (the strings themselves).
    expect(grown).toBeLessThan(1024 * 1024);
  });

  it('costs a bounded number of bytes per address, even at the longest IP text (45 characters)', () => {
    const checks = admissions();
    const before = heapAfterGc();
    for (let i = 0; i < ENTRIES; i++) {
      const longest = `ffff:ffff:ffff:ffff:ffff:ffff:255.255.${i >> 8}.${i & 255}`;
      const result = checks.admit(req, '/chat', [], { remoteAddress: longest }, undefined);
      expect(result).not.toBeInstanceOf(HandshakeRejection);
    }
    const perEntry = (heapAfterGc() - before) / ENTRIES;
    expect(checks.limits.trackedAddresses).toBe(ENTRIES);
    expect(checks.limits.connectedAddresses).toBe(ENTRIES);
    // Both tables together: the key string, the two Map entries, a bucket and a count.
    expect(perEntry).toBeLessThan(400);
  });
});
