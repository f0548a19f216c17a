/**
 * The nesting scan that bounds `maxDepth` before JSON.parse: checked against JSON.parse's own
 * idea of depth on generated JSON, with brackets, quotes and escapes inside strings.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { nestsDeeperThan } from '../src/schema.js';

/** The nesting depth of a parsed value: what the scan must agree with. */
function depthOf(value: unknown): number {
  if (value === null || typeof value !== 'object') return 0;
  const children = Array.isArray(value) ? value : Object.values(value);
  return 1 + children.reduce<number>((max, child) => Math.max(max, depthOf(child)), 0);
}

/** Strings full of what the scan must skip: brackets, quotes, backslashes and their escapes. */
const tricky = fc.stringMatching(/^[[\]{}"\\\\a\u00e9\u{1F600}]*$/u);

/** JSON values of any depth up to 12, with tricky strings as keys and values. */
const { value } = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.oneof(tricky, fc.integer(), fc.constant(null), fc.boolean()),
    fc.array(tie('value'), { maxLength: 3 }),
    fc.dictionary(tricky, tie('value'), { maxKeys: 3 }),
  ),
}));

describe('nestsDeeperThan', () => {
  const table: Array<[string, number, boolean]> = [
    ['[]', 1, false],
    ['[[]]', 1, true],
    ['{"a":[{}]}', 3, false],
    ['{"a":[{}]}', 2, true],
    ['"[[[[[[["', 1, false],
    ['["\\\\"]', 1, false],
    ['["\\"[[["]', 1, false],
    ['["\\\\",[[]]]', 2, true],
    ['{"\\\\\\"[":[]}', 1, true],
    [']]]][[[[', 2, false],
    ['"unterminated [[[[', 1, false],
  ];
  for (const [text, max, deeper] of table) {
    it(`${text} with max ${max}: ${deeper ? 'deeper' : 'within'}`, () => {
      expect(nestsDeeperThan(text, max)).toBe(deeper);
      expect(nestsDeeperThan(Buffer.from(text), max)).toBe(deeper);
    });
  }

  it('agrees with the depth of what JSON.parse builds, for text and UTF-8 bytes (generated)', () => {
    fc.assert(
      fc.property(value, fc.integer({ min: 1, max: 14 }), fc.boolean(), (json, max, spaced) => {
        const text = JSON.stringify(json, null, spaced ? 1 : undefined);
        const deeper = depthOf(JSON.parse(text)) > max;
        expect(nestsDeeperThan(text, max)).toBe(deeper);
        expect(nestsDeeperThan(Buffer.from(text), max)).toBe(deeper);
      }),
      { numRuns: 500 },
    );
  });
});
