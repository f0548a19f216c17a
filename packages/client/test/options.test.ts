import { describe, expect, it } from 'vitest';
import { resolveOptions } from '../src/options.js';
import type { ConnectOptions } from '../src/options.js';

describe('resolveOptions', () => {
  it('defaults', () => {
    const settings = resolveOptions({ WebSocket: undefined });
    expect(settings).toMatchObject({
      protocols: [],
      transports: ['websocket', 'sse'],
      livenessTimeout: 3000,
      handshakeTimeout: 30_000,
      reconnect: { initialDelay: 1000, maxDelay: 30_000, factor: 2, jitter: 1, spread: 5000, maxRetries: Infinity },
      WebSocket: undefined,
    });
    expect(typeof settings.fetch).toBe('function');
  });

  it('handshakeTimeout is at least livenessTimeout by default', () => {
    expect(resolveOptions({ livenessTimeout: 45_000 }).handshakeTimeout).toBe(45_000);
    expect(resolveOptions({ livenessTimeout: 500, handshakeTimeout: 500 }).handshakeTimeout).toBe(500);
  });

  it('a single protocol string, partial reconnect settings, reconnect: false', () => {
    expect(resolveOptions({ protocols: 'chat' }).protocols).toEqual(['chat']);
    expect(resolveOptions({ reconnect: { maxRetries: 3 } }).reconnect).toMatchObject({
      initialDelay: 1000,
      maxRetries: 3,
    });
    expect(resolveOptions({ reconnect: false }).reconnect).toBe(false);
  });

  it('WebSocket: the global by default; an explicit undefined means none', () => {
    expect(resolveOptions({}).WebSocket).toBe((globalThis as { WebSocket?: unknown }).WebSocket);
    expect(resolveOptions({ WebSocket: undefined }).WebSocket).toBeUndefined();
  });

  const errors: Array<[options: unknown, message: string]> = [
    [{ protocol: ['chat'] }, 'connect(): unknown option "protocol"'],
    [{ reconnect: { delay: 5 } }, 'connect(): unknown reconnect option "delay"'],
    [{ protocols: ['chat', 1] }, 'connect(): protocols must be strings'],
    [{ transports: [] }, 'connect(): transports must list "websocket", "sse" or both'],
    [{ transports: ['polling'] }, 'connect(): transports must list "websocket", "sse" or both'],
    [{ livenessTimeout: 0 }, 'connect(): livenessTimeout must be a number > 0'],
    [{ livenessTimeout: '3000' }, 'connect(): livenessTimeout must be a number > 0'],
    [{ reconnect: { initialDelay: -1 } }, 'connect(): reconnect.initialDelay must be a number >= 0'],
    [{ reconnect: { maxRetries: Number.NaN } }, 'connect(): reconnect.maxRetries must be a number >= 0'],
    [{ reconnect: { factor: 0.5 } }, 'connect(): reconnect.factor must be a number >= 1'],
    [{ reconnect: { jitter: 2 } }, 'connect(): reconnect.jitter must be a number from 0 to 1'],
    [{ WebSocket: 'ws' }, 'connect(): options.WebSocket must be a class'],
    [{ reconnect: { spread: -1 } }, 'connect(): reconnect.spread must be a number >= 0'],
    [{ handshakeTimeout: '30000' }, 'connect(): handshakeTimeout must be a number >= livenessTimeout'],
    [
      { livenessTimeout: 5000, handshakeTimeout: 4000 },
      'connect(): handshakeTimeout must be a number >= livenessTimeout',
    ],
  ];
  for (const [options, message] of errors) {
    it(`${JSON.stringify(options)}: ${message}`, () => {
      expect(() => resolveOptions(options as ConnectOptions)).toThrow(new TypeError(message));
    });
  }
});
