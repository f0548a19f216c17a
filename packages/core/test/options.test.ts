import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DEFAULT_KEPT_HEADERS } from '../src/options-defaults.js';
import { resolveOptions } from '../src/options-resolve.js';
import { HandshakeRejection, reject } from '../src/errors.js';

describe('resolveOptions', () => {
  it('applies the defaults: 1 MiB payload, compression off, heartbeat 30 s / 10 s, fallback on', () => {
    expect(resolveOptions({})).toEqual({
      protocols: undefined,
      origins: undefined,
      maxPayload: 1024 * 1024,
      compression: false,
      heartbeat: { interval: 30_000, timeout: 10_000 },
      highWaterMark: 64 * 1024,
      maxBufferedAmount: 16 * 1024 * 1024,
      hub: undefined,
      fallback: { sessionTimeout: 30_000, heartbeat: 15_000, retry: 1000, replay: 1000, replayBytes: 2 * 1024 * 1024 },
      keepHeaders: new Set(DEFAULT_KEPT_HEADERS),
      maxKeptHeaderLength: 1024,
      maxConnections: Infinity,
      maxConnectionsPerAddress: Infinity,
      handshakeRate: undefined,
      maxPendingHandshakes: 1024,
      messageRate: undefined,
      byteRate: undefined,
      controlRate: { count: 10, per: 1000, burst: 50 },
      maxDepth: 64,
      idleTimeout: Infinity,
      maxLifetime: Infinity,
      closeTimeout: 5000,
      stats: true,
      schema: undefined,
      recovery: false,
    });
    expect(resolveOptions({ rateLimit: { messages: 100, per: 1000, burst: 200, bytes: 1000 } })).toMatchObject({
      messageRate: { count: 100, per: 1000, burst: 200 },
      byteRate: { count: 1000, per: 1000, burst: 1000 },
    });
    expect(resolveOptions({ maxBufferedAmount: Infinity }).maxBufferedAmount).toBe(Infinity);
    expect(resolveOptions({ maxPendingHandshakes: Infinity }).maxPendingHandshakes).toBe(Infinity);
    expect(resolveOptions({ fallback: false }).fallback).toBe(false);
    expect(resolveOptions({ controlRate: false }).controlRate).toBeUndefined();
    expect(resolveOptions({ controlRate: { frames: 5 } }).controlRate).toEqual({ count: 5, per: 1000, burst: 50 });
    expect(resolveOptions({ maxDepth: 3 }).maxDepth).toBe(3);
    expect(resolveOptions({ maxDepth: Infinity }).maxDepth).toBe(Infinity);
  });

  it('lets handlers override defaults given by a framework plugin', () => {
    const resolved = resolveOptions({ maxPayload: 10, heartbeat: false }, { maxPayload: 99, compression: true });
    expect(resolved.maxPayload).toBe(10);
    expect(resolved.heartbeat).toBe(false);
    expect(resolved.compression).toEqual({});
  });

  it('keepHeaders: names lower-cased and kept whole, or true for all', () => {
    expect(resolveOptions({ keepHeaders: ['X-Trace', 'cookie'] })).toMatchObject({
      keepHeaders: new Set(['x-trace', 'cookie']),
      maxKeptHeaderLength: Infinity,
    });
    expect(resolveOptions({ keepHeaders: true })).toMatchObject({ keepHeaders: true, maxKeptHeaderLength: Infinity });
    expect(DEFAULT_KEPT_HEADERS).not.toContain('cookie');
    expect(DEFAULT_KEPT_HEADERS).not.toContain('authorization');
  });

  const errors: Array<[string, Record<string, unknown>, string]> = [
    ['an unknown rateLimit key', { rateLimit: { mesages: 5 } }, 'websocket(): unknown option "rateLimit.mesages"'],
    [
      'a rateLimit without messages or bytes',
      { rateLimit: { per: 10 } },
      'websocket(): option "rateLimit" needs "messages", "bytes" or both',
    ],
    [
      'a zero message rate',
      { rateLimit: { messages: 0 } },
      'websocket(): option "rateLimit.messages" must be a positive number, got 0',
    ],
    [
      'a handshakeRate without handshakes',
      { handshakeRate: { per: 10 } },
      'websocket(): option "handshakeRate.handshakes" is required',
    ],
    [
      'a zero maxPendingHandshakes',
      { maxPendingHandshakes: 0 },
      'websocket(): option "maxPendingHandshakes" must be a positive number, got 0',
    ],
    [
      'a negative maxConnections',
      { maxConnections: -1 },
      'websocket(): option "maxConnections" must be a positive number, got -1',
    ],
    ['a zero closeTimeout', { closeTimeout: 0 }, 'websocket(): option "closeTimeout" must be a positive number, got 0'],
    [
      // setTimeout fires a longer delay at once: the peer would be cut as the close frame leaves.
      'an infinite closeTimeout',
      { closeTimeout: Infinity },
      'websocket(): option "closeTimeout" must be at most 2147483647 ms, got Infinity',
    ],
    ['a non-function limited hook', { limited: true }, 'websocket(): "limited" must be a function'],
    [
      'keepHeaders as a string',
      { keepHeaders: 'cookie' },
      'websocket(): option "keepHeaders" must be true or an array of header names',
    ],
    [
      'keepHeaders as false',
      { keepHeaders: false },
      'websocket(): option "keepHeaders" must be true or an array of header names',
    ],
    ['an unknown option', { maxPaylod: 5 }, 'websocket(): unknown option "maxPaylod"'],
    ['a non-function hook', { message: 'hi' }, 'websocket(): "message" must be a function'],
    ['a negative maxPayload', { maxPayload: -1 }, 'websocket(): option "maxPayload" must be a positive number, got -1'],
    [
      'a string heartbeat interval',
      { heartbeat: { interval: '5' } },
      'websocket(): option "heartbeat.interval" must be a positive number, got 5',
    ],
    [
      'protocols with an empty name',
      { protocols: ['chat', ''] },
      'websocket(): option "protocols" must be an array of non-empty strings or a function',
    ],
    [
      'origins as a string',
      { origins: 'https://a.example' },
      'websocket(): option "origins" must be an array of origins or a function',
    ],
    [
      'compression as a string',
      { compression: 'yes' },
      'websocket(): option "compression" must be a boolean or an options object',
    ],
    [
      'heartbeat as true',
      { heartbeat: true },
      'websocket(): option "heartbeat" must be false or { interval, timeout }',
    ],
    [
      'fallback as true',
      { fallback: true },
      'websocket(): option "fallback" must be false or { sessionTimeout, heartbeat, retry, replay, replayBytes, owner }',
    ],
    [
      'an unknown fallback option',
      { fallback: { replayByte: 5 } },
      'websocket(): unknown option "fallback.replayByte"',
    ],
    [
      'a fallback owner that is not a function',
      { fallback: { owner: 'ann' } },
      'websocket(): "fallback.owner" must be a function',
    ],
    [
      'a zero fallback.replayBytes',
      { fallback: { replayBytes: 0 } },
      'websocket(): option "fallback.replayBytes" must be a positive number, got 0',
    ],
    [
      'a hub that is not one',
      { hub: {} },
      'websocket(): option "hub" must be a hub from createHub() or a distributed hub',
    ],
    [
      'a misspelt heartbeat setting',
      { heartbeat: { intervall: 5 } },
      'websocket(): unknown option "heartbeat.intervall"',
    ],
    [
      'a misspelt fallback setting',
      { fallback: { sessionTimout: 5 } },
      'websocket(): unknown option "fallback.sessionTimout"',
    ],
    [
      'a misspelt compression setting',
      { compression: { treshold: 5 } },
      'websocket(): unknown option "compression.treshold"',
    ],
    [
      'a misspelt nested name next to valid ones',
      { heartbeat: { interval: 5, timeout: 5, Timeout: 1 } },
      'websocket(): unknown option "heartbeat.Timeout"',
    ],
    [
      'a schema that is not a Standard Schema',
      { schema: { parse() {} } },
      'websocket(): option "schema" must be a Standard Schema validator (zod, valibot, arktype...)',
    ],
    [
      'an outgoing schema of another version',
      { outgoing: { '~standard': { version: 2, validate() {} } } },
      'websocket(): option "outgoing" must be a Standard Schema validator (zod, valibot, arktype...)',
    ],
    ['stats as a string', { stats: 'yes' }, 'websocket(): option "stats" must be a boolean'],
    [
      'a misspelt controlRate setting',
      { controlRate: { frame: 5 } },
      'websocket(): unknown option "controlRate.frame"',
    ],
    [
      'controlRate as a number',
      { controlRate: 10 },
      'websocket(): option "controlRate" must be false or { frames, per, burst }',
    ],
    [
      'a controlRate of zero frames',
      { controlRate: { frames: 0 } },
      'websocket(): option "controlRate.frames" must be a positive number, got 0',
    ],
    [
      'maxDepth of zero',
      { maxDepth: 0 },
      'websocket(): option "maxDepth" must be a positive integer or Infinity, got 0',
    ],
    [
      'a fractional maxDepth',
      { maxDepth: 2.5 },
      'websocket(): option "maxDepth" must be a positive integer or Infinity, got 2.5',
    ],
    [
      'maxDepth as a string',
      { maxDepth: '64' },
      'websocket(): option "maxDepth" must be a positive integer or Infinity, got 64',
    ],
    ['a misspelt maxDepth', { maxdepth: 64 }, 'websocket(): unknown option "maxdepth"'],
    ['a non-function invalid hook', { invalid: 1 }, 'websocket(): "invalid" must be a function'],
  ];
  for (const [name, options, message] of errors) {
    it(`rejects ${name} with a TypeError coded SWITCHYARD_ERR_INVALID_OPTION`, () => {
      let thrown: unknown;
      try {
        resolveOptions(options as never);
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeInstanceOf(TypeError);
      expect(thrown).toMatchObject({ message, code: 'SWITCHYARD_ERR_INVALID_OPTION' });
    });
  }
});

describe('nested options', () => {
  it('names the full path of an unknown nested option given as a plugin default', () => {
    expect(() => resolveOptions({}, { heartbeat: { intervall: 5 } as never })).toThrow(
      new TypeError('websocket(): unknown option "heartbeat.intervall"'),
    );
  });

  it('accepts every documented nested name', () => {
    const resolved = resolveOptions({
      heartbeat: { interval: 1, timeout: 2 },
      fallback: { sessionTimeout: 3, heartbeat: 4, retry: 5, replay: 6, replayBytes: 7, owner: () => 'ann' },
      handshakeRate: { handshakes: 1, per: 2, burst: 3 },
      controlRate: { frames: 1, per: 2, burst: 3 },
      rateLimit: { messages: 1, bytes: 2, per: 3, burst: 4, burstBytes: 5 },
      compression: {
        threshold: 1,
        concurrencyLimit: 1,
        serverNoContextTakeover: true,
        clientNoContextTakeover: true,
        serverMaxWindowBits: 10,
        clientMaxWindowBits: 10,
        zlibDeflateOptions: {},
        zlibInflateOptions: {},
      },
    });
    expect(resolved.heartbeat).toEqual({ interval: 1, timeout: 2 });
    expect(resolved.fallback).toMatchObject({ sessionTimeout: 3, heartbeat: 4, retry: 5, replay: 6, replayBytes: 7 });
    expect(resolved.handshakeRate).toEqual({ count: 1, per: 2, burst: 3 });
    expect(resolved.controlRate).toEqual({ count: 1, per: 2, burst: 3 });
    expect(resolved.messageRate).toEqual({ count: 1, per: 3, burst: 4 });
    expect(resolved.byteRate).toEqual({ count: 2, per: 3, burst: 5 });
  });

  it('refuses any key that is not a known name, inherited or odd ones included (generated)', () => {
    const known = new Set(['interval', 'timeout']);
    fc.assert(
      fc.property(
        fc.string({ minLength: 1, maxLength: 12 }).filter((key) => !known.has(key)),
        (key) => {
          const heartbeat = JSON.parse(`{${JSON.stringify(key)}: 1}`) as Record<string, unknown>;
          expect(() => resolveOptions({ heartbeat } as never)).toThrow(
            new TypeError(`websocket(): unknown option "heartbeat.${key}"`),
          );
        },
      ),
    );
  });
});

describe('reject', () => {
  it('builds a rejection with status, message and headers', () => {
    const rejection = reject(401, 'Unauthorized', { 'WWW-Authenticate': 'Bearer' });
    expect(rejection).toBeInstanceOf(HandshakeRejection);
    expect(rejection).toBeInstanceOf(Error);
    expect([rejection.status, rejection.message, rejection.headers, rejection.code]).toEqual([
      401,
      'Unauthorized',
      { 'WWW-Authenticate': 'Bearer' },
      'SWITCHYARD_ERR_HANDSHAKE_REJECTED',
    ]);
    expect(reject(503).message).toBe('Service Unavailable');
  });

  it('refuses statuses that are not 4xx or 5xx', () => {
    expect(() => reject(200)).toThrow(new TypeError('reject(): status must be an integer from 400 to 599, got 200'));
    expect(() => reject(101)).toThrow(TypeError);
  });
});
