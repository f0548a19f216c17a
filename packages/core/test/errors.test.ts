import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ErrorCode, HandshakeRejection, reject } from '../src/errors.js';

const page = readFileSync(new URL('../../../docs/errors.md', import.meta.url), 'utf8');
// Core's table: the "Errors" section; the client's own codes follow in a section of their own.
const docs = page.slice(page.indexOf('## Errors'), page.indexOf('## @switchyard/client errors'));

describe('error codes', () => {
  it('are SWITCHYARD_ERR_ followed by their name, and unique', () => {
    for (const [name, code] of Object.entries(ErrorCode)) expect(code).toBe(`SWITCHYARD_ERR_${name}`);
    expect(new Set(Object.values(ErrorCode)).size).toBe(Object.keys(ErrorCode).length);
  });

  it('are every one listed in docs/errors.md, with nothing listed there that does not exist', () => {
    for (const code of Object.values(ErrorCode)) expect(docs).toContain(`| \`${code}\` |`);
    const listed = [...docs.matchAll(/^\| `(SWITCHYARD_ERR_\w+)` \|/gm)].map((match) => match[1]);
    expect(listed.sort()).toEqual(Object.values(ErrorCode).sort());
  });

  it.each([399, 600, 200, 404.5, Number.NaN])('reject(%s) throws a TypeError coded INVALID_STATUS', (status) => {
    let thrown: unknown;
    try {
      reject(status);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(TypeError);
    expect(thrown).toMatchObject({
      code: ErrorCode.INVALID_STATUS,
      message: `reject(): status must be an integer from 400 to 599, got ${String(status)}`,
    });
  });

  it('a rejection carries HANDSHAKE_REJECTED, its status, message and headers', () => {
    const rejection = reject(429, undefined, { 'Retry-After': '1' });
    expect(rejection).toBeInstanceOf(HandshakeRejection);
    expect(rejection).toMatchObject({
      code: ErrorCode.HANDSHAKE_REJECTED,
      status: 429,
      message: 'Too Many Requests',
      headers: { 'Retry-After': '1' },
    });
  });
});
