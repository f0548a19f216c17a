import type { IncomingMessage } from 'node:http';
import { Duplex } from 'node:stream';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { HandshakeRejection } from '../src/errors.js';
import { asksForUpgrade, checkExtensions, checkHandshake, isWebSocketRequest } from '../src/handshake/handshake.js';

const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';

function request(
  overrides: { method?: string; version?: [number, number]; headers?: Record<string, string | undefined> } = {},
): IncomingMessage {
  const headers: Record<string, string> = {
    host: 'example.com',
    upgrade: 'websocket',
    connection: 'Upgrade',
    'sec-websocket-key': KEY,
    'sec-websocket-version': '13',
  };
  for (const [name, value] of Object.entries(overrides.headers ?? {})) {
    if (value === undefined) delete headers[name];
    else headers[name] = value;
  }
  const [major, minor] = overrides.version ?? [1, 1];
  return {
    method: overrides.method ?? 'GET',
    httpVersionMajor: major,
    httpVersionMinor: minor,
    headers,
  } as unknown as IncomingMessage;
}

describe('isWebSocketRequest / asksForUpgrade', () => {
  const cases: Array<[Record<string, string | undefined>, boolean, boolean]> = [
    [{}, true, true],
    [{ upgrade: 'WebSocket' }, true, true],
    [{ upgrade: 'WEBSOCKET', connection: 'UPGRADE' }, true, true],
    [{ upgrade: 'websockeT', connection: 'upgradE' }, true, true],
    // Same length as the token, one letter off: the no-allocation comparison must still say no.
    [{ upgrade: 'websockex' }, false, false],
    [{ upgrade: 'websocket', connection: 'upgrada' }, true, false],
    [{ upgrade: 'websocke\u00d4' }, false, false],
    [{ upgrade: 'WEBSOCKET ' }, true, true],
    [{ upgrade: 'h2c, websocket' }, true, true],
    [{ upgrade: 'h2c' }, false, false],
    [{ upgrade: undefined }, false, false],
    [{ connection: 'keep-alive, Upgrade' }, true, true],
    [{ connection: 'keep-alive' }, true, false],
    [{ connection: undefined }, true, false],
  ];
  for (const [headers, ws, upgrade] of cases) {
    it(`${JSON.stringify(headers)}: ${ws}/${upgrade}`, () => {
      const req = request({ headers });
      expect(isWebSocketRequest(req)).toBe(ws);
      expect(asksForUpgrade(req)).toBe(upgrade);
    });
  }
});

describe('checkHandshake', () => {
  it('accepts a valid handshake and returns the offered subprotocols', () => {
    expect(checkHandshake(request())).toEqual([]);
    expect(checkHandshake(request({ headers: { 'sec-websocket-protocol': 'soap,  chat' } }))).toEqual(['soap', 'chat']);
  });

  const rejections: Array<[string, Parameters<typeof request>[0], number, RegExp, Record<string, string>?]> = [
    ['POST', { method: 'POST' }, 405, /must use GET, not POST/, { Allow: 'GET' }],
    ['HTTP/1.0', { version: [1, 0] }, 400, /HTTP\/1\.1/],
    ['no Connection: upgrade', { headers: { connection: 'keep-alive' } }, 400, /Connection: Upgrade/],
    ['no Host', { headers: { host: undefined } }, 400, /Missing Host header/],
    [
      'version 8',
      { headers: { 'sec-websocket-version': '8' } },
      426,
      /Unsupported Sec-WebSocket-Version "8"/,
      { 'Sec-WebSocket-Version': '13' },
    ],
    [
      'no version',
      { headers: { 'sec-websocket-version': undefined } },
      426,
      /Missing Sec-WebSocket-Version/,
      { 'Sec-WebSocket-Version': '13' },
    ],
    ['no key', { headers: { 'sec-websocket-key': undefined } }, 400, /Missing Sec-WebSocket-Key/],
    ['short key', { headers: { 'sec-websocket-key': 'AAAA' } }, 400, /Invalid Sec-WebSocket-Key/],
    [
      'key with bad characters',
      { headers: { 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ=!' } },
      400,
      /Invalid Sec-WebSocket-Key/,
    ],
    [
      'bad subprotocol list',
      { headers: { 'sec-websocket-protocol': 'a,,b' } },
      400,
      /Invalid Sec-WebSocket-Protocol header: Empty subprotocol at index 2/,
    ],
  ];
  for (const [name, overrides, status, message, headers] of rejections) {
    it(`${name}: ${status}`, () => {
      const result = checkHandshake(request(overrides));
      expect(result).toBeInstanceOf(HandshakeRejection);
      const rejection = result as HandshakeRejection;
      expect(rejection.status).toBe(status);
      expect(rejection.message).toMatch(message);
      expect(rejection.headers).toEqual(headers ?? {});
    });
  }
});

describe('checkHandshake and checkExtensions against ws', () => {
  // ws answers what it refuses itself and never calls back, so core must refuse it first: a
  // handshake that passes core's checks must be one ws upgrades.
  class OpenSocket extends Duplex {
    override _read(): void {}
    override _write(_chunk: unknown, _encoding: unknown, callback: () => void): void {
      callback();
    }
  }
  const deflate = { threshold: 1024, concurrencyLimit: 10 };
  const wss = new WebSocketServer({ noServer: true, clientTracking: false, perMessageDeflate: deflate });
  const token = fc.constantFrom(
    'websocket',
    'WebSocket',
    'chat',
    'foo',
    'permessage-deflate',
    'x-webkit-deflate-frame',
  );
  const value = fc.oneof(
    fc.stringMatching(/^[a-z0-9_=;,". \t-]{0,30}$/),
    fc
      .array(token, { minLength: 1, maxLength: 3 })
      .map((tokens) => tokens.join(fc.sample(fc.constantFrom(',', ', ', ' ,'), 1)[0])),
    fc
      .array(
        fc.constantFrom(
          'server_no_context_takeover',
          'client_no_context_takeover',
          'server_max_window_bits=10',
          'server_max_window_bits=99',
          'client_max_window_bits',
          'client_max_window_bits=7',
          'client_max_window_bits="15"',
          'foo',
        ),
        { maxLength: 3 },
      )
      .map((params) => ['permessage-deflate', ...params].join('; ')),
  );

  it('never passes a handshake that ws would refuse (generated Upgrade, subprotocol and extension headers)', () => {
    fc.assert(
      fc.property(
        fc.record(
          { upgrade: value, 'sec-websocket-protocol': value, 'sec-websocket-extensions': value },
          { requiredKeys: [] },
        ),
        (headers) => {
          const req = request({ headers: { upgrade: 'websocket', ...headers } });
          const offered = checkHandshake(req);
          if (offered instanceof HandshakeRejection) return;
          if (checkExtensions(req, deflate, 1024)) return;
          let upgraded = false;
          let refused: Error | undefined;
          wss.once('wsClientError', (error: Error) => {
            refused = error;
          });
          const socket = new OpenSocket();
          wss.handleUpgrade(req, socket, Buffer.alloc(0), (ws) => {
            upgraded = true;
            ws.terminate();
          });
          wss.removeAllListeners('wsClientError');
          socket.destroy();
          expect({ headers, upgraded, refused: refused?.message }).toEqual({
            headers,
            upgraded: true,
            refused: undefined,
          });
        },
      ),
      { numRuns: 2000 },
    );
  });
});
