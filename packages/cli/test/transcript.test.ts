import { describe, expect, it } from 'vitest';
import { checkAccept, expectedAccept } from '../src/transcript.js';

describe('Sec-WebSocket-Accept', () => {
  it('follows the example of RFC 6455 §1.3', () => {
    expect(expectedAccept('dGhlIHNhbXBsZSBub25jZQ==')).toBe('s3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
  });

  const how = 'base64(SHA-1(Sec-WebSocket-Key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))';
  const cases: Array<[string | undefined, boolean, string]> = [
    ['s3pPLMBiTxaQ9kYGzzhZRbK+xOo=', true, `Sec-WebSocket-Accept is correct: ${how} = s3pPLMBiTxaQ9kYGzzhZRbK+xOo=`],
    [
      's3pPLMBiTxaQ9kYGzzhZRbK+xOo',
      false,
      `Sec-WebSocket-Accept is WRONG: expected ${how} = s3pPLMBiTxaQ9kYGzzhZRbK+xOo=, got s3pPLMBiTxaQ9kYGzzhZRbK+xOo`,
    ],
    [undefined, false, `Sec-WebSocket-Accept is missing; it should be ${how} = s3pPLMBiTxaQ9kYGzzhZRbK+xOo=`],
  ];
  for (const [accept, ok, summary] of cases) {
    it(String(accept), () => expect(checkAccept('dGhlIHNhbXBsZSBub25jZQ==', accept)).toEqual({ ok, summary }));
  }
});
