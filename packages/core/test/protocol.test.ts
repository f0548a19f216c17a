import { realpathSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  CloseCode,
  FallbackMode,
  FallbackParam,
  LIVENESS_FRAME,
  SESSION_HEADER,
  isSendableCloseCode,
} from '../src/protocol.js';

const here = (path: string): string => fileURLToPath(new URL(path, import.meta.url));

describe('protocol: the vocabulary server, client and CLI share', () => {
  it("is one file: the client compiles core's own protocol module, not a copy", () => {
    expect(realpathSync(here('../../client/src/protocol.ts'))).toBe(realpathSync(here('../src/protocol.ts')));
  });

  it('imports nothing, so the client stays free of dependencies in a browser', () => {
    const source = readFileSync(here('../src/protocol.ts'), 'utf8');
    expect(source).not.toMatch(/^\s*import\s/m);
    expect(source).not.toMatch(/\brequire\(/);
  });

  it.each([
    [999, false],
    [1000, true],
    [1003, true],
    [1004, false],
    [1005, false],
    [1006, false],
    [1007, true],
    [1014, true],
    [1015, false],
    [1016, false],
    [2999, false],
    [3000, true],
    [4999, true],
    [5000, false],
    [1000.5, false],
    [Number.NaN, false],
    [-1000, false],
  ])('isSendableCloseCode(%d) is %s', (code, sendable) => {
    expect(isSendableCloseCode(code)).toBe(sendable);
  });

  it('names every code it sends as sendable, and the three reported-only codes as not', () => {
    for (const [name, code] of Object.entries(CloseCode)) {
      const reportedOnly = name === 'NO_STATUS' || name === 'ABNORMAL' || name === 'TLS_HANDSHAKE';
      expect(isSendableCloseCode(code), name).toBe(!reportedOnly);
    }
  });

  it('keeps the wire names the published fallback protocol documents', () => {
    expect(LIVENESS_FRAME).toBe('\u0000sy:open');
    expect(SESSION_HEADER.toLowerCase()).toBe('switchyard-session');
    expect(FallbackParam).toEqual({ MODE: '__sy', SESSION: '__sy_session', PROTOCOLS: '__sy_protocols' });
    expect(FallbackMode).toEqual({ LIVE: '1', SSE: 'sse', POST: 'post' });
    // Every parameter starts with the mode's name: the server strips them all by that prefix.
    for (const name of Object.values(FallbackParam)) expect(name.startsWith(FallbackParam.MODE)).toBe(true);
  });
});
