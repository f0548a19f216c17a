import { describe, expect, it } from 'vitest';
import {
  parseHeader,
  parseHeaders,
  parseInteger,
  parseProtocolFlags,
  parseSeconds,
  parseSize,
  UsageError,
} from '../src/args.js';
import { parseTarget } from '../src/connect.js';

describe('parseHeader', () => {
  const valid: Array<[string, [string, string]]> = [
    ['Authorization: Bearer abc', ['Authorization', 'Bearer abc']],
    ['Cookie:a=1; b=2', ['Cookie', 'a=1; b=2']],
    ['  X-Spaced  :   value  ', ['X-Spaced', 'value']],
    ['X-Time: 12:30', ['X-Time', '12:30']],
    ['X-Empty:', ['X-Empty', '']],
  ];
  for (const [input, header] of valid) it(JSON.stringify(input), () => expect(parseHeader(input)).toEqual(header));

  const invalid: Array<[string, string]> = [
    ['no colon', '-H expects "Name: value", got "no colon"'],
    [': value', '-H expects "Name: value", got ": value"'],
    ['Bad Name: x', '-H "Bad Name: x": Header name must be a valid HTTP token ["Bad Name"]'],
    ['sec-websocket-key: abc', '-H cannot set sec-websocket-key: the client generates it'],
    ['Sec-WebSocket-Protocol: chat', '-H cannot set Sec-WebSocket-Protocol: use --protocol'],
    ['Upgrade: h2c', '-H cannot set Upgrade: the handshake needs "Upgrade: websocket"'],
  ];
  for (const [input, message] of invalid) {
    it(`refuses ${JSON.stringify(input)}`, () => {
      expect(() => parseHeader(input)).toThrow(UsageError);
      expect(() => parseHeader(input)).toThrow(message);
    });
  }

  it('keeps repeated names as several lines, under the first spelling', () => {
    expect(parseHeaders(['Cookie: a=1', 'X-One: 1', 'cookie: b=2'])).toEqual({ Cookie: ['a=1', 'b=2'], 'X-One': '1' });
  });
});

describe('number flags', () => {
  it('parses whole numbers within bounds', () => {
    expect(parseInteger('--port', '0', 0, 65535)).toBe(0);
    expect(parseInteger('--port', '65535', 0, 65535)).toBe(65535);
    for (const bad of ['65536', '-1', '1.5', '8080x', '', ' 80']) {
      expect(() => parseInteger('--port', bad, 0, 65535)).toThrow(
        `--port must be a whole number from 0 to 65535, got ${JSON.stringify(bad)}`,
      );
    }
  });

  const sizes: Array<[string, number]> = [
    ['65536', 65536],
    ['64k', 65536],
    ['64KB', 65536],
    ['1m', 1048576],
    ['2 mb', 2097152],
    ['10b', 10],
  ];
  for (const [input, bytes] of sizes) it(`size ${input}`, () => expect(parseSize('--max-payload', input)).toBe(bytes));
  it('refuses other sizes', () => {
    for (const bad of ['0', '1g', 'k', '-5', '1.5k']) expect(() => parseSize('--max-payload', bad)).toThrow(UsageError);
  });

  const seconds: Array<[string, number]> = [
    ['10', 10_000],
    ['0.5', 500],
    ['.25', 250],
    ['1.0004', 1000],
  ];
  for (const [input, ms] of seconds) it(`seconds ${input}`, () => expect(parseSeconds('--timeout', input)).toBe(ms));
  it('refuses other durations', () => {
    for (const bad of ['0', '-1', 'soon', '1e3', '']) expect(() => parseSeconds('--timeout', bad)).toThrow(UsageError);
  });
});

describe('parseProtocolFlags', () => {
  it('takes repeated flags and comma lists, in order', () => {
    expect(parseProtocolFlags(['chat', 'v2.chat, mqtt'])).toEqual(['chat', 'v2.chat', 'mqtt']);
    expect(parseProtocolFlags(undefined)).toEqual([]);
  });
  it('refuses what a server would refuse', () => {
    expect(() => parseProtocolFlags(['chat', 'chat'])).toThrow(
      '--protocol: Duplicate subprotocol "chat" at index 6 in "chat, chat"',
    );
    expect(() => parseProtocolFlags(['a/b'])).toThrow('--protocol: Unexpected character at index 1 in "a/b"');
  });
});

describe('parseTarget', () => {
  const cases: Array<[string, string]> = [
    ['ws://localhost:8080', 'ws://localhost:8080/'],
    ['wss://example.com/chat?x=1', 'wss://example.com/chat?x=1'],
    ['localhost:8080/chat', 'ws://localhost:8080/chat'],
    ['https://example.com', 'https://example.com/'],
  ];
  for (const [input, href] of cases) it(input, () => expect(parseTarget(input).href).toBe(href));
  it('refuses other schemes', () =>
    expect(() => parseTarget('ftp://example.com')).toThrow('the URL must start with ws:// or wss://, got ftp://'));
  it('refuses what is not a URL', () =>
    expect(() => parseTarget('ws://exa mple')).toThrow('not a URL: "ws://exa mple"'));
});
