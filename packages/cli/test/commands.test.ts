import { describe, expect, it } from 'vitest';
import { isSendableCloseCode, parseInput } from '../src/commands.js';
import type { Action } from '../src/commands.js';

describe('parseInput', () => {
  const cases: Array<[string, Action]> = [
    ['hello', { kind: 'text', text: 'hello' }],
    ['  spaced  ', { kind: 'text', text: '  spaced  ' }],
    ['', { kind: 'nothing' }],
    ['//ping', { kind: 'text', text: '/ping' }],
    ['/ping', { kind: 'ping', data: undefined }],
    ['/ping hello there', { kind: 'ping', data: Buffer.from('hello there') }],
    [`/ping ${'x'.repeat(125)}`, { kind: 'ping', data: Buffer.from('x'.repeat(125)) }],
    [`/ping ${'x'.repeat(126)}`, { kind: 'invalid', message: '/ping data is 126 bytes; a ping carries at most 125' }],
    ['/close', { kind: 'close', code: 1000, reason: '' }],
    ['/close 4000', { kind: 'close', code: 4000, reason: '' }],
    ['/close 1001 going  away ', { kind: 'close', code: 1001, reason: 'going  away' }],
    [
      '/close 1006',
      {
        kind: 'invalid',
        message: '/close needs a close code that may be sent (1000-1003, 1007-1014 or 3000-4999), got "1006"',
      },
    ],
    [
      '/close bye',
      {
        kind: 'invalid',
        message: '/close needs a close code that may be sent (1000-1003, 1007-1014 or 3000-4999), got "bye"',
      },
    ],
    [
      `/close 1000 ${'é'.repeat(62)}`,
      { kind: 'invalid', message: '/close reason is 124 bytes; a close frame has room for 123' },
    ],
    ['/binary de ad be ef', { kind: 'binary', data: Buffer.from([0xde, 0xad, 0xbe, 0xef]) }],
    ['/binary DEADBEEF', { kind: 'binary', data: Buffer.from([0xde, 0xad, 0xbe, 0xef]) }],
    ['/binary 0x00ff', { kind: 'binary', data: Buffer.from([0x00, 0xff]) }],
    ['/binary 01:02:03', { kind: 'binary', data: Buffer.from([1, 2, 3]) }],
    ['/binary', { kind: 'invalid', message: '/binary needs the bytes in hex, e.g. /binary de ad be ef' }],
    ['/binary abc', { kind: 'invalid', message: '/binary: 3 hex digits is not a whole number of bytes' }],
    [
      '/binary zz',
      { kind: 'invalid', message: '/binary: "zz" is not hex (digits 0-9 and a-f, spaces or colons between bytes)' },
    ],
    ['/quit', { kind: 'quit' }],
    ['/exit', { kind: 'quit' }],
    ['/help', { kind: 'help' }],
    [
      '/nope',
      { kind: 'invalid', message: 'Unknown command /nope; /help lists the commands, and //nope sends "/nope" as text' },
    ],
  ];
  for (const [line, action] of cases) {
    it(JSON.stringify(line.length > 40 ? `${line.slice(0, 40)}…` : line), () => {
      expect(parseInput(line)).toEqual(action);
    });
  }
});

describe('isSendableCloseCode', () => {
  const cases: Array<[number, boolean]> = [
    [999, false],
    [1000, true],
    [1003, true],
    [1004, false],
    [1005, false],
    [1006, false],
    [1007, true],
    [1014, true],
    [1015, false],
    [2999, false],
    [3000, true],
    [4999, true],
    [5000, false],
  ];
  for (const [code, sendable] of cases) {
    it(`${code} ${sendable ? 'may' : 'may not'} be sent`, () => expect(isSendableCloseCode(code)).toBe(sendable));
  }
});
