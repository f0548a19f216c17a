import { describe, expect, it } from 'vitest';
import {
  describeBinary,
  describeClose,
  describeCloseCode,
  duration,
  hex,
  printable,
  styleFor,
  timestamp,
} from '../src/format.js';

describe('printable', () => {
  const cases: Array<[string, string]> = [
    ['plain text', 'plain text'],
    ['tab\tand\nnewline', 'tab\tand\nnewline'],
    ['\x1b[31mred', '\\x1b[31mred'],
    ['carriage\rreturn', 'carriage\\x0dreturn'],
    ['nul\x00 del\x7f c1\x9b', 'nul\\x00 del\\x7f c1\\x9b'],
    ['unicode ✓ stays', 'unicode ✓ stays'],
  ];
  for (const [input, output] of cases) it(JSON.stringify(input), () => expect(printable(input)).toBe(output));
});

describe('hex and describeBinary', () => {
  it('spaces the bytes', () => expect(hex(Buffer.from([0, 1, 0xab]))).toBe('00 01 ab'));
  it('cuts long payloads and says how much is left', () => {
    expect(hex(Buffer.alloc(70, 0xff))).toBe(`${Array(64).fill('ff').join(' ')} … (6 more bytes)`);
  });
  it('gives the length first', () => {
    expect(describeBinary(Buffer.from([0xde, 0xad]))).toBe('[binary, 2 bytes] de ad');
    expect(describeBinary(Buffer.from([7]))).toBe('[binary, 1 byte] 07');
    expect(describeBinary(Buffer.alloc(0))).toBe('[binary, 0 bytes]');
  });
});

describe('describeCloseCode', () => {
  const cases: Array<[number, string]> = [
    [1000, '1000 (normal)'],
    [1001, '1001 (going away)'],
    [1005, '1005 (no status code in the close frame)'],
    [1006, '1006 (abnormal: dropped without a close frame)'],
    [1009, '1009 (message too big)'],
    [1011, '1011 (internal error)'],
    [1012, '1012 (service restart)'],
    [3001, '3001 (registered for libraries and frameworks)'],
    [4100, '4100 (application-defined)'],
    [4000, '4000 (application-defined; switchyard: idle timeout)'],
    [4001, '4001 (application-defined; switchyard: expired)'],
    [2000, '2000 (not a valid close code)'],
  ];
  for (const [code, text] of cases) it(String(code), () => expect(describeCloseCode(code)).toBe(text));
  it('quotes the reason', () => expect(describeClose(1000, 'bye "now"')).toBe('1000 (normal) "bye \\"now\\""'));
});

describe('styleFor', () => {
  it('colours a terminal', () => expect(styleFor({ isTTY: true }, {}).red('x')).toBe('\x1b[31mx\x1b[39m'));
  it('leaves a pipe alone', () => expect(styleFor({ isTTY: false }, {}).red('x')).toBe('x'));
  it('leaves a terminal alone under NO_COLOR', () =>
    expect(styleFor({ isTTY: true }, { NO_COLOR: '1' }).bold('x')).toBe('x'));
});

describe('timestamp and duration', () => {
  it('pads the clock', () => expect(timestamp(new Date(2024, 0, 1, 3, 4, 5, 6))).toBe('03:04:05.006'));
  const cases: Array<[number, string]> = [
    [0.4219, '0.42 ms'],
    [12.4, '12 ms'],
    [999, '999 ms'],
    [3140, '3.1 s'],
  ];
  for (const [ms, text] of cases) it(`${ms} ms`, () => expect(duration(ms)).toBe(text));
});
