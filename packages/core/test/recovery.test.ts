import fc from 'fast-check';
import { describe, expect, expectTypeOf, it } from 'vitest';
import { createHub } from '../src/hub/hub.js';
import type { Connection, DurableStore, EndpointOptions, RecoveryOptions } from '@switchyard/core';
import type { Hub } from '../src/hub/hub.js';
import { MAX_TOKEN_BYTES, compareIds, parseToken, resolveRecovery } from '../src/recovery/index.js';

/** A hub with a durable store that is never called: enough for option checks. */
const durableHub = (): Hub => Object.assign(createHub(), { durable: { range() {} } as unknown as DurableStore });

describe('compareIds', () => {
  it.each([
    ['0-0', '0-0', 0],
    ['1-0', '0-5', 1],
    ['9-0', '10-0', -1],
    ['10-2', '10-10', -1],
    ['1700000000000-3', '1700000000000-3', 0],
  ])('%s vs %s', (a, b, sign) => expect(Math.sign(compareIds(a, b))).toBe(sign));

  it('orders like the numbers it encodes', () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 0n, max: 2n ** 60n }),
        fc.bigInt({ min: 0n, max: 2n ** 60n }),
        fc.nat(),
        fc.nat(),
        (am, bm, as, bs) => {
          const expected = am === bm ? Math.sign(as - bs) : am < bm ? -1 : 1;
          expect(Math.sign(compareIds(`${am}-${as}`, `${bm}-${bs}`))).toBe(expected);
        },
      ),
    );
  });
});

describe('compareIds, against the split-based comparison it replaced, on any strings (fast-check)', () => {
  /** The first implementation: split on '-', a missing part is '0', longer is larger. */
  function splitCompare(a: string, b: string): number {
    const [am = '0', as = '0'] = a.split('-');
    const [bm = '0', bs = '0'] = b.split('-');
    if (am.length !== bm.length) return am.length - bm.length;
    if (am !== bm) return am < bm ? -1 : 1;
    if (as.length !== bs.length) return as.length - bs.length;
    return as === bs ? 0 : as < bs ? -1 : 1;
  }
  const idLike = fc.oneof(
    fc.string(),
    fc.stringMatching(/^[0-9-]{0,8}$/),
    fc.tuple(fc.nat(), fc.nat()).map(([ms, seq]) => `${ms}-${seq}`),
  );

  it('the same sign for every pair', () => {
    fc.assert(
      fc.property(idLike, idLike, (a, b) => {
        expect(Math.sign(compareIds(a, b))).toBe(Math.sign(splitCompare(a, b)));
      }),
      { numRuns: 2000 },
    );
  });

  it.each([
    ['5', '5-0'],
    ['5-', '5-0'],
    ['5-3-7', '5-3'],
    ['', '0'],
    ['-', '-0'],
    ['1-2', '1-'],
  ])('%j vs %j', (a, b) => expect(Math.sign(compareIds(a, b))).toBe(Math.sign(splitCompare(a, b))));
});

describe('parseToken', () => {
  it.each([
    ['hello', 'the first message must be the resume token'],
    ['\u0000sy:resume{', 'malformed resume token: not JSON'],
    ['\u0000sy:resume[]', 'malformed resume token: expected an object'],
    ['\u0000sy:resume{"s":"a b","p":{}}', 'malformed resume token: bad session id'],
    ['\u0000sy:resume{"s":null}', 'malformed resume token: expected positions'],
    ['\u0000sy:resume{"s":null,"p":{"t":["1-0","e"]}}', 'malformed resume token: bad position for a topic'],
    ['\u0000sy:resume{"s":null,"p":{"t":["1","e",1]}}', 'malformed resume token: bad position for a topic'],
    ['\u0000sy:resume{"s":null,"p":{"t":["1-0","e",-1]}}', 'malformed resume token: bad position for a topic'],
  ])('%j is refused: %s', (text, message) => expect(parseToken(text)).toBe(message));

  it('reads a well-formed token', () => {
    expect(parseToken('\u0000sy:resume{"s":"abc_-1","p":{"room:1":["17-2","ep",5]}}')).toEqual({
      session: 'abc_-1',
      positions: new Map([['room:1', { id: '17-2', epoch: 'ep', count: 5 }]]),
    });
  });

  it('never throws, whatever the text', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc.json().map((j) => `\u0000sy:resume${j}`),
        ),
        (text) => {
          const result = parseToken(text);
          expect(typeof result === 'string' || result instanceof Object).toBe(true);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('caps tokens at 64 KiB', () => expect(MAX_TOKEN_BYTES).toBe(65_536));
});

describe('resolveRecovery', () => {
  it('is off by default, with defaults when on', () => {
    expect(resolveRecovery(undefined, undefined)).toBe(false);
    expect(resolveRecovery({}, durableHub())).toEqual({ maxDisconnectionDuration: 120_000, maxReplay: 10_000 });
  });

  it('needs a durable hub and checks its settings', () => {
    expect(() => resolveRecovery({}, createHub())).toThrow('option "recovery" needs a durable hub');
    expect(() => resolveRecovery({}, undefined)).toThrow('needs a durable hub');
    expect(() => resolveRecovery({ maxDisconectionDuration: 1 } as never, durableHub())).toThrow(
      'unknown option "recovery.maxDisconectionDuration"',
    );
    expect(() => resolveRecovery({ maxDisconnectionDuration: 10 }, durableHub())).toThrow('at least 1000');
    expect(() => resolveRecovery({ maxReplay: 1.5 }, durableHub())).toThrow(
      '"recovery.maxReplay" must be a positive integer',
    );
    expect(() => resolveRecovery(5 as never, durableHub())).toThrow('must be false or');
  });
});

describe('types', () => {
  it('ws.recovered is a boolean; recovery takes options or false', () => {
    expectTypeOf<Connection['recovered']>().toEqualTypeOf<boolean>();
    expectTypeOf<EndpointOptions['recovery']>().toEqualTypeOf<RecoveryOptions | false | undefined>();
    // @ts-expect-error a string is not a duration
    const wrong: RecoveryOptions = { maxDisconnectionDuration: '2m' };
    void wrong;
  });
});
