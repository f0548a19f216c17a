import { describe, expect, it } from 'vitest';
import { parseProtocols, selectProtocol } from '../src/handshake/subprotocol.js';

describe('parseProtocols', () => {
  const valid: Array<[string, string[]]> = [
    ['chat', ['chat']],
    ['soap,chat', ['soap', 'chat']],
    ['soap, chat', ['soap', 'chat']],
    ['soap ,\tchat', ['soap', 'chat']],
    ['soap  ,   chat  ', ['soap', 'chat']],
    ['v2.chat.example.com', ['v2.chat.example.com']],
    ['a-b_c~d!e#f$g', ['a-b_c~d!e#f$g']],
  ];
  for (const [header, expected] of valid) {
    it(`parses ${JSON.stringify(header)}`, () => {
      expect(parseProtocols(header)).toEqual(expected);
    });
  }

  const invalid: Array<[string, string]> = [
    ['', 'Empty subprotocol at index 0'],
    [',chat', 'Empty subprotocol at index 0'],
    ['chat,', 'Empty subprotocol at index 5'],
    ['chat,,json', 'Empty subprotocol at index 5'],
    ['chat, ,json', 'Empty subprotocol at index 6'],
    ['ch at', 'Unexpected character at index 2'],
    ['chat/1', 'Unexpected character at index 4'],
    ['chat, js"on', 'Unexpected character at index 8'],
    ['chät', 'Unexpected character at index 2'],
    ['chat;q=1', 'Unexpected character at index 4'],
    ['chat, chat', 'Duplicate subprotocol "chat" at index 6'],
  ];
  for (const [header, message] of invalid) {
    it(`rejects ${JSON.stringify(header)} with "${message}"`, () => {
      expect(() => parseProtocols(header)).toThrow(new SyntaxError(message));
    });
  }
});

describe('selectProtocol', () => {
  const cases: Array<[string[], readonly string[], string | undefined]> = [
    [['soap', 'chat'], ['chat'], 'chat'],
    [['soap', 'chat'], ['chat', 'soap'], 'chat'],
    [['soap', 'chat'], ['soap', 'chat'], 'soap'],
    [['soap'], ['chat'], undefined],
    [[], ['chat'], undefined],
    [['Chat'], ['chat'], undefined],
  ];
  for (const [offered, speaks, expected] of cases) {
    it(`offered ${offered.join(',') || 'none'}, speaks ${speaks.join(',')}: ${String(expected)}`, () => {
      expect(selectProtocol(offered, speaks, {})).toBe(expected);
    });
  }

  it('a function chooses and sees the request; a choice outside the offer counts as no match', () => {
    const req = { path: '/x' };
    expect(selectProtocol(['a', 'b'], (offered, r) => (r === req ? offered[1] : undefined), req)).toBe('b');
    expect(selectProtocol(['a', 'b'], () => 'c', req)).toBeUndefined();
    expect(selectProtocol(['a', 'b'], () => undefined, req)).toBeUndefined();
  });
});
