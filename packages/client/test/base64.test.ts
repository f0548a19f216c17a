import { describe, expect, it } from 'vitest';
import { decodeBase64, encodeBase64 } from '../src/base64.js';

describe('base64', () => {
  const cases: Array<[bytes: number[], text: string]> = [
    [[], ''],
    [[0], 'AA=='],
    [[0, 1], 'AAE='],
    [[0, 1, 2], 'AAEC'],
    [[255, 254, 253, 252], '//79/A=='],
  ];
  for (const [bytes, text] of cases) {
    it(`[${bytes.join(',')}] <-> "${text}"`, () => {
      expect(encodeBase64(new Uint8Array(bytes))).toBe(text);
      expect([...new Uint8Array(decodeBase64(text))]).toEqual(bytes);
    });
  }

  it('agrees with Buffer on every byte value and on more than one slice', () => {
    const bytes = new Uint8Array(100_000).map((_, i) => (i * 7919) % 256);
    const text = encodeBase64(bytes);
    expect(text).toBe(Buffer.from(bytes).toString('base64'));
    expect(new Uint8Array(decodeBase64(text))).toEqual(bytes);
  });

  it('encodes a view, not its whole buffer', () => {
    const view = new Uint8Array([9, 1, 2, 3, 9]).subarray(1, 4);
    expect(encodeBase64(view)).toBe('AQID');
  });

  it('refuses malformed input', () => {
    expect(() => decodeBase64('not base64!')).toThrow();
  });
});
