/**
 * RFC 6455 at the byte level, for every adapter: raw `net` sockets, hand-built frames, and the
 * exact bytes the server puts on the wire. Each test name starts with the section it checks.
 *
 *   runRfc6455(expressHarness);
 *
 * Endpoints run with `heartbeat: false`, so that no server ping can slip in between the bytes a
 * test expects.
 */
import { randomBytes } from 'node:crypto';
import zlib, { deflateRawSync, inflateRawSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { CloseCode } from '@switchyard/core';
import type { Harness, Mount, Started } from '../harness.js';
import { start } from '../harness.js';
import {
  KEY,
  Opcode,
  RawClient,
  closeFrame,
  delay,
  echo,
  frame,
  handshakeRequest,
  parseFrames,
  quietFor,
  readResponse,
  recordingEcho,
  requireAssertions,
} from '../helpers.js';

/** The Sec-WebSocket-Accept for the RFC's sample key (§1.3), written out rather than computed. */
const SAMPLE_ACCEPT = 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=';

/** A frame as a server must send it: unmasked (§5.1). */
function serverFrame(opcode: number, payload: string | Buffer = Buffer.alloc(0)): Buffer {
  return frame(opcode, payload, { mask: false });
}

/** A server close frame; without a code, the empty close of §5.5.1. */
function serverClose(code?: number, reason: string | Buffer = Buffer.alloc(0)): Buffer {
  if (code === undefined) return serverFrame(Opcode.CLOSE);
  const bytes = Buffer.from(reason);
  const payload = Buffer.alloc(2 + bytes.length);
  payload.writeUInt16BE(code, 0);
  bytes.copy(payload, 2);
  return serverFrame(Opcode.CLOSE, payload);
}

/** A client close frame with a raw payload, for codes and reasons `closeFrame()` can't express. */
function closeWithPayload(payload: Buffer): Buffer {
  return frame(Opcode.CLOSE, payload);
}

function codeBytes(code: number, reason: Buffer = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(2);
  head.writeUInt16BE(code, 0);
  return Buffer.concat([head, reason]);
}

/** What the server sent after its 101 head. */
function wire(raw: RawClient): Buffer {
  const end = raw.received.indexOf('\r\n\r\n');
  return raw.received.subarray(end + 4);
}

const hasClose = (raw: RawClient) => (): boolean => parseFrames(wire(raw)).some((f) => f.opcode === Opcode.CLOSE);

/** A handshake with the header lines exactly as given: names, case and order untouched. */
function rawHandshake(lines: string[], requestLine = 'GET /ws HTTP/1.1'): string {
  return `${requestLine}\r\n${lines.map((line) => `${line}\r\n`).join('')}\r\n`;
}

/** §7.4.1: the codes an endpoint may put in a close frame. */
function isSendableCode(code: number): boolean {
  return (code >= 1000 && code <= 1014 && ![1004, 1005, 1006].includes(code)) || (code >= 3000 && code <= 4999);
}

export function runRfc6455(harness: Harness): void {
  describe(`${harness.name}: RFC 6455 byte level`, () => {
    requireAssertions();
    const running: Started[] = [];
    const raws: RawClient[] = [];
    const serve = async (mounts: Mount[]): Promise<Started> => {
      const started = await start(harness, mounts);
      running.push(started);
      return started;
    };
    const connect = async (s: Started): Promise<RawClient> => {
      const raw = await RawClient.connect(s.port);
      raws.push(raw);
      return raw;
    };
    /** A raw client past a 101 on `path`. */
    const open = async (s: Started, path = '/ws', headers: Record<string, string | null> = {}): Promise<RawClient> => {
      const raw = await connect(s);
      raw.write(handshakeRequest(path, headers));
      const head = await raw.response();
      expect(head.status, head.statusLine).toBe(101);
      return raw;
    };
    /** Serves `handlers` on /ws and returns a raw client past the 101. */
    const openOn = async (handlers: Mount['handlers'] = echo): Promise<RawClient> =>
      open(await serve([{ path: '/ws', handlers }]));
    /**
     * §7.1.7 "Fail the WebSocket Connection": after `bytes`, the server sends exactly one close
     * frame with `code` and no reason, and nothing else, then closes the TCP connection.
     */
    const expectFailure = async (raw: RawClient, bytes: Buffer, code: number): Promise<void> => {
      raw.write(bytes);
      await raw.until(hasClose(raw));
      expect(wire(raw).toString('hex')).toBe(serverClose(code).toString('hex'));
      await raw.waitClosed();
      expect(wire(raw).toString('hex')).toBe(serverClose(code).toString('hex'));
    };
    afterEach(async () => {
      for (const raw of raws.splice(0)) raw.destroy();
      await Promise.all(running.splice(0).map((s) => s.close()));
    });

    describe('§4 opening handshake', () => {
      it('§4.2.2 a valid handshake gets exactly 101, Upgrade, Connection and the Sec-WebSocket-Accept of the key', async () => {
        const s = await serve([{ path: '/ws', handlers: echo }]);
        // Round 1 is the server's first request ('request' event); round 2 is routed from 'upgrade'.
        for (let round = 0; round < 2; round++) {
          const raw = await connect(s);
          raw.write(handshakeRequest('/ws', { 'Sec-WebSocket-Key': KEY }));
          const head = await raw.response();
          expect(head.statusLine).toBe('HTTP/1.1 101 Switching Protocols');
          expect(head.headers.upgrade?.toLowerCase()).toBe('websocket');
          expect(head.headers.connection?.toLowerCase()).toBe('upgrade');
          expect(head.headers['sec-websocket-accept']).toBe(SAMPLE_ACCEPT);
          for (const absent of [
            'sec-websocket-protocol',
            'sec-websocket-extensions',
            'content-length',
            'transfer-encoding',
          ]) {
            expect(head.headers[absent], absent).toBeUndefined();
          }
          // The server sends nothing unasked after the 101.
          await quietFor(50);
          expect(wire(raw).length).toBe(0);
          raw.write(frame(Opcode.TEXT, 'open'));
          await raw.until(() => parseFrames(wire(raw)).length >= 1);
          expect(wire(raw).toString('hex')).toBe(serverFrame(Opcode.TEXT, 'open').toString('hex'));
        }
      });

      const missing: Array<{ header: string; status: number; body: RegExp; extra?: [string, string] }> = [
        { header: 'Host', status: 400, body: /^/ },
        { header: 'Connection', status: 400, body: /Connection/ },
        { header: 'Sec-WebSocket-Key', status: 400, body: /Sec-WebSocket-Key/ },
        { header: 'Sec-WebSocket-Version', status: 426, body: /13/, extra: ['sec-websocket-version', '13'] },
      ];
      for (const c of missing) {
        it(`§4.2.1 a handshake without ${c.header}: ${c.status}, no Sec-WebSocket-Accept, and the connection closes`, async () => {
          const s = await serve([{ path: '/ws', handlers: echo }]);
          for (let round = 0; round < 2; round++) {
            const raw = await connect(s);
            raw.write(handshakeRequest('/ws', { [c.header]: null }));
            const response = await readResponse(raw);
            expect(response.status, `round ${round}: ${response.statusLine}`).toBe(c.status);
            expect(response.headers['sec-websocket-accept']).toBeUndefined();
            expect(response.body).toMatch(c.body);
            if (c.extra) expect(response.headers[c.extra[0]]).toBe(c.extra[1]);
            await raw.waitClosed();
          }
        });
      }

      it('§4.2.1 a request without Upgrade: websocket is no handshake: the app answers it with a 4xx, never 101', async () => {
        const s = await serve([{ path: '/ws', handlers: echo }]);
        for (let round = 0; round < 2; round++) {
          const raw = await connect(s);
          raw.write(handshakeRequest('/ws', { Upgrade: null }));
          const response = await readResponse(raw);
          // Express and Koa pass it on to their 404; Fastify answers a WebSocket-only route with 426.
          expect(response.status, response.statusLine).toBeGreaterThanOrEqual(400);
          expect(response.status, response.statusLine).toBeLessThan(500);
          expect(response.headers['sec-websocket-accept']).toBeUndefined();
        }
      });

      it('§4.2.1 a key that is not 16 bytes in base64: 400', async () => {
        const s = await serve([{ path: '/ws', handlers: echo }]);
        for (const key of [
          'AAAA',
          'dGhlIHNhbXBsZSBub25jZQ',
          'dGhlIHNhbXBsZSBub25jZQ==AAAA',
          'AAAAAAAAAAAAAAAAAAAAAAAAAAA=',
        ]) {
          const raw = await connect(s);
          raw.write(handshakeRequest('/ws', { 'Sec-WebSocket-Key': key }));
          const response = await readResponse(raw);
          expect(response.status, key).toBe(400);
          expect(response.body).toMatch(/Sec-WebSocket-Key/);
        }
      });

      const versions: Array<[string, Record<string, string | null> | string[]]> = [
        ['8', { 'Sec-WebSocket-Version': '8' }],
        ['12', { 'Sec-WebSocket-Version': '12' }],
        ['14', { 'Sec-WebSocket-Version': '14' }],
        ['13 and 8 on two lines', ['Sec-WebSocket-Version: 13', 'Sec-WebSocket-Version: 8']],
      ];
      for (const [label, headers] of versions) {
        it(`§4.4 Sec-WebSocket-Version ${label}: 426 with Sec-WebSocket-Version: 13`, async () => {
          const s = await serve([{ path: '/ws', handlers: echo }]);
          for (let round = 0; round < 2; round++) {
            const raw = await connect(s);
            raw.write(
              Array.isArray(headers)
                ? rawHandshake([
                    'Host: 127.0.0.1',
                    'Upgrade: websocket',
                    'Connection: Upgrade',
                    `Sec-WebSocket-Key: ${KEY}`,
                    ...headers,
                  ])
                : handshakeRequest('/ws', headers),
            );
            const response = await readResponse(raw);
            expect(response.statusLine).toBe('HTTP/1.1 426 Upgrade Required');
            expect(response.headers['sec-websocket-version']).toBe('13');
            expect(response.headers['sec-websocket-accept']).toBeUndefined();
            await raw.waitClosed();
          }
        });
      }

      for (const method of ['POST', 'PUT', 'DELETE', 'OPTIONS']) {
        // A websocket route always takes POST (the fallback's frames); other methods reach the
        // endpoint only in frameworks that don't route by method.
        const framework = method !== 'POST' && harness.unroutedMethodStatus !== undefined;
        it(`§4.1 a ${method} handshake: ${framework ? `the framework's ${harness.unroutedMethodStatus}` : '405 with Allow: GET'}, never 101`, async () => {
          const s = await serve([{ path: '/ws', handlers: echo }]);
          for (let round = 0; round < 2; round++) {
            const raw = await connect(s);
            raw.write(handshakeRequest('/ws', { 'Content-Length': '0' }, `${method} /ws HTTP/1.1`));
            const response = await readResponse(raw);
            expect(response.headers['sec-websocket-accept']).toBeUndefined();
            if (framework) {
              expect(response.status, `round ${round}`).toBe(harness.unroutedMethodStatus);
              continue;
            }
            expect(response.statusLine, `round ${round}`).toBe('HTTP/1.1 405 Method Not Allowed');
            expect(response.headers.allow).toBe('GET');
            await raw.waitClosed();
          }
        });
      }

      it('§4.1 an HTTP/1.0 request line: 400', async () => {
        const s = await serve([{ path: '/ws', handlers: echo }]);
        for (let round = 0; round < 2; round++) {
          const raw = await connect(s);
          raw.write(handshakeRequest('/ws', {}, 'GET /ws HTTP/1.0'));
          const response = await readResponse(raw);
          expect(response.status, `round ${round}: ${response.statusLine}`).toBe(400);
          expect(response.body).toMatch(/HTTP\/1\.1/);
          expect(response.headers['sec-websocket-accept']).toBeUndefined();
          await raw.waitClosed();
        }
      });

      const spellings: Array<[string, string[]]> = [
        [
          'Connection: keep-alive, Upgrade (Firefox)',
          [
            'Host: 127.0.0.1',
            'Connection: keep-alive, Upgrade',
            'Upgrade: websocket',
            `Sec-WebSocket-Key: ${KEY}`,
            'Sec-WebSocket-Version: 13',
          ],
        ],
        [
          'Connection: Upgrade,keep-alive',
          [
            'Host: 127.0.0.1',
            'Connection: Upgrade,keep-alive',
            'Upgrade: websocket',
            `Sec-WebSocket-Key: ${KEY}`,
            'Sec-WebSocket-Version: 13',
          ],
        ],
        [
          'lower-case names, Upgrade: WebSocket',
          [
            'host: 127.0.0.1',
            'upgrade: WebSocket',
            'connection: upgrade',
            `sec-websocket-key: ${KEY}`,
            'sec-websocket-version: 13',
          ],
        ],
        [
          'upper-case names and values',
          [
            'HOST: 127.0.0.1',
            'UPGRADE: WEBSOCKET',
            'CONNECTION: UPGRADE',
            `SEC-WEBSOCKET-KEY: ${KEY}`,
            'SEC-WEBSOCKET-VERSION: 13',
          ],
        ],
        [
          'extra spaces around values',
          [
            'Host:127.0.0.1',
            'Upgrade:   websocket  ',
            'Connection:\tUpgrade',
            `Sec-WebSocket-Key:  ${KEY}`,
            'Sec-WebSocket-Version:13',
          ],
        ],
      ];
      for (const [label, lines] of spellings) {
        it(`§4.2.1 header names and tokens are case-insensitive: ${label}`, async () => {
          const s = await serve([{ path: '/ws', handlers: echo }]);
          for (let round = 0; round < 2; round++) {
            const raw = await connect(s);
            raw.write(rawHandshake(lines));
            const head = await raw.response();
            expect(head.statusLine, `round ${round}`).toBe('HTTP/1.1 101 Switching Protocols');
            expect(head.headers['sec-websocket-accept']).toBe(SAMPLE_ACCEPT);
            raw.write(frame(Opcode.TEXT, 'case'));
            await raw.until(() => parseFrames(wire(raw)).length >= 1);
            expect(wire(raw).toString('hex')).toBe(serverFrame(Opcode.TEXT, 'case').toString('hex'));
          }
        });
      }

      const offers: Array<[string, string[]]> = [
        ['"soap ,chat"', ['Sec-WebSocket-Protocol: soap ,chat']],
        ['"  soap,\\tchat\\t"', ['Sec-WebSocket-Protocol:   soap,\tchat\t']],
        ['"soap ,\\t chat , mqtt"', ['Sec-WebSocket-Protocol: soap ,\t chat , mqtt']],
        ['split over two header lines', ['Sec-WebSocket-Protocol: soap', 'Sec-WebSocket-Protocol: chat']],
      ];
      for (const [label, protocolLines] of offers) {
        it(`§4.2.2 a subprotocol offer with odd whitespace (${label}) selects exactly one: chat`, async () => {
          const s = await serve([{ path: '/ws', handlers: { ...echo, protocols: ['chat'] } }]);
          for (let round = 0; round < 2; round++) {
            const raw = await connect(s);
            raw.write(
              rawHandshake([
                'Host: 127.0.0.1',
                'Upgrade: websocket',
                'Connection: Upgrade',
                `Sec-WebSocket-Key: ${KEY}`,
                'Sec-WebSocket-Version: 13',
                ...protocolLines,
              ]),
            );
            const head = await raw.response();
            expect(head.status, `round ${round}: ${head.statusLine}`).toBe(101);
            expect(head.headers['sec-websocket-protocol']).toBe('chat');
            expect(raw.received.toString('latin1').match(/sec-websocket-protocol/gi)).toHaveLength(1);
          }
        });
      }

      it('§9.1 unknown extensions are declined: no Sec-WebSocket-Extensions, and frames carry no RSV bit', async () => {
        const s = await serve([{ path: '/ws', handlers: echo }]);
        for (const offer of [
          'x-unknown; a=1, permessage-foo',
          'x-webkit-deflate-frame',
          'x-unknown; q="quoted, comma"',
          ';;garbage',
        ]) {
          const raw = await connect(s);
          raw.write(handshakeRequest('/ws', { 'Sec-WebSocket-Extensions': offer }));
          const head = await raw.response();
          expect(head.status, offer).toBe(101);
          expect(head.headers['sec-websocket-extensions']).toBeUndefined();
          const text = 'x'.repeat(2000);
          raw.write(frame(Opcode.TEXT, text));
          await raw.until(() => parseFrames(wire(raw)).length >= 1);
          expect(wire(raw).toString('hex')).toBe(serverFrame(Opcode.TEXT, text).toString('hex'));
        }
      });

      it('§9.1 with compression on, only permessage-deflate is accepted from an offer with unknown extensions', async () => {
        const s = await serve([{ path: '/ws', handlers: { ...echo, compression: true } }]);
        const raw = await connect(s);
        raw.write(
          handshakeRequest('/ws', {
            'Sec-WebSocket-Extensions': 'x-unknown; a=1, permessage-deflate; client_max_window_bits, x-other',
          }),
        );
        const head = await raw.response();
        expect(head.status).toBe(101);
        const accepted = head.headers['sec-websocket-extensions'] ?? '';
        expect(accepted.split(',').map((e) => e.split(';')[0]!.trim())).toEqual(['permessage-deflate']);
      });
    });

    describe('§5 framing', () => {
      it('§5.1 an unmasked client frame: 1002', async () => {
        await expectFailure(await openOn(), frame(Opcode.TEXT, 'unmasked', { mask: false }), CloseCode.PROTOCOL_ERROR);
      });

      for (const [bit, rsv] of [
        ['RSV1', 4],
        ['RSV2', 2],
        ['RSV3', 1],
      ] as const) {
        it(`§5.2 ${bit} set without a negotiated extension: 1002`, async () => {
          await expectFailure(await openOn(), frame(Opcode.TEXT, 'reserved', { rsv }), CloseCode.PROTOCOL_ERROR);
        });
      }

      it('§5.2 RSV2 set even with permessage-deflate negotiated: 1002', async () => {
        const raw = await open(await serve([{ path: '/ws', handlers: { ...echo, compression: true } }]), '/ws', {
          'Sec-WebSocket-Extensions': 'permessage-deflate',
        });
        await expectFailure(raw, frame(Opcode.TEXT, 'reserved', { rsv: 2 }), CloseCode.PROTOCOL_ERROR);
      });

      for (const opcode of [0x3, 0x4, 0x5, 0x6, 0x7, 0xb, 0xc, 0xd, 0xe, 0xf]) {
        it(`§5.2 reserved opcode 0x${opcode.toString(16).toUpperCase()}: 1002`, async () => {
          await expectFailure(await openOn(), frame(opcode, 'x'), CloseCode.PROTOCOL_ERROR);
        });
      }

      for (const [name, opcode] of [
        ['ping', Opcode.PING],
        ['pong', Opcode.PONG],
        ['close', Opcode.CLOSE],
      ] as const) {
        it(`§5.4 a fragmented control frame (${name} without FIN): 1002`, async () => {
          const payload = name === 'close' ? codeBytes(1000) : Buffer.from('frag');
          await expectFailure(await openOn(), frame(opcode, payload, { fin: false }), CloseCode.PROTOCOL_ERROR);
        });

        it(`§5.5 a ${name} frame with a 126-byte payload: 1002`, async () => {
          const payload = name === 'close' ? codeBytes(1000, Buffer.alloc(124, 0x61)) : Buffer.alloc(126, 0x61);
          await expectFailure(await openOn(), frame(opcode, payload), CloseCode.PROTOCOL_ERROR);
        });
      }

      it('§5.4 a continuation frame with nothing to continue: 1002', async () => {
        await expectFailure(await openOn(), frame(Opcode.CONTINUATION, 'orphan'), CloseCode.PROTOCOL_ERROR);
      });

      it('§5.4 a new data frame while a fragmented message is open: 1002', async () => {
        const raw = await openOn();
        await expectFailure(
          raw,
          Buffer.concat([frame(Opcode.TEXT, 'first', { fin: false }), frame(Opcode.TEXT, 'second')]),
          CloseCode.PROTOCOL_ERROR,
        );
      });

      it('§5.4 fragments reassemble, and a ping between them is answered first', async () => {
        const raw = await openOn();
        raw.write(
          Buffer.concat([
            frame(Opcode.TEXT, 'Hel', { fin: false }),
            frame(Opcode.PING, 'p'),
            frame(Opcode.CONTINUATION, 'lo ', { fin: false }),
            frame(Opcode.CONTINUATION, 'world'),
          ]),
        );
        await raw.until(() => parseFrames(wire(raw)).length >= 2);
        expect(wire(raw).toString('hex')).toBe(
          Buffer.concat([serverFrame(Opcode.PONG, 'p'), serverFrame(Opcode.TEXT, 'Hello world')]).toString('hex'),
        );
      });

      for (const payload of ['', 'hello', 'x'.repeat(125)]) {
        it(`§5.5.2 a ping with ${payload.length} bytes gets a pong with the same payload`, async () => {
          const raw = await openOn();
          raw.write(frame(Opcode.PING, payload));
          await raw.until(() => parseFrames(wire(raw)).length >= 1);
          expect(wire(raw).toString('hex')).toBe(serverFrame(Opcode.PONG, payload).toString('hex'));
        });
      }

      it('§5.5.3 an unsolicited pong gets no answer', async () => {
        const raw = await openOn();
        raw.write(Buffer.concat([frame(Opcode.PONG, 'unasked'), frame(Opcode.TEXT, 'after')]));
        await raw.until(() => parseFrames(wire(raw)).length >= 1);
        // No pong may follow the echo.
        await quietFor(50);
        expect(wire(raw).toString('hex')).toBe(serverFrame(Opcode.TEXT, 'after').toString('hex'));
      });

      const lengths: Array<[number, string]> = [
        [0, '8200'],
        [125, '827d'],
        [126, '827e007e'],
        [65535, '827effff'],
        [65536, '827f0000000000010000'],
      ];
      for (const [length, header] of lengths) {
        it(`§5.2 a ${length}-byte message comes back unmasked, with the shortest length encoding (${header})`, async () => {
          const raw = await openOn();
          const payload = Buffer.alloc(length);
          for (let i = 0; i < length; i++) payload[i] = i & 0xff;
          raw.write(frame(Opcode.BINARY, payload));
          await raw.until(() => parseFrames(wire(raw)).length >= 1);
          const bytes = wire(raw);
          expect(bytes.subarray(0, header.length / 2).toString('hex')).toBe(header);
          expect(bytes.length).toBe(header.length / 2 + length);
          expect(bytes.subarray(header.length / 2).equals(payload)).toBe(true);
        });
      }

      it('§5.2 a frame split across many TCP writes is reassembled', async () => {
        const raw = await openOn();
        raw.socket.setNoDelay(true);
        const bytes = frame(Opcode.TEXT, 'x'.repeat(300));
        for (let at = 0; at < bytes.length; at += 7) {
          raw.write(bytes.subarray(at, at + 7));
          await delay(1);
        }
        await raw.until(() => parseFrames(wire(raw)).length >= 1);
        expect(wire(raw).toString('hex')).toBe(serverFrame(Opcode.TEXT, 'x'.repeat(300)).toString('hex'));
      });

      const invalidUtf8: Array<[string, number[]]> = [
        ['a lone continuation byte', [0x61, 0x80]],
        ['a truncated sequence', [0xc3, 0x28]],
        ['an overlong encoding', [0xc0, 0x80]],
        ['a UTF-16 surrogate', [0xed, 0xa0, 0x80]],
        ['a code point above U+10FFFF', [0xf4, 0x90, 0x80, 0x80]],
        ['0xFF', [0xff]],
      ];
      for (const [label, bytes] of invalidUtf8) {
        it(`§8.1 a text message with ${label}: 1007`, async () => {
          await expectFailure(await openOn(), frame(Opcode.TEXT, Buffer.from(bytes)), CloseCode.INVALID_PAYLOAD);
        });
      }

      it('§8.1 invalid UTF-8 split across fragments: 1007', async () => {
        const raw = await openOn();
        await expectFailure(
          raw,
          Buffer.concat([
            frame(Opcode.TEXT, Buffer.from([0x61, 0xe2, 0x82]), { fin: false }),
            frame(Opcode.CONTINUATION, Buffer.from([0x28, 0x62])),
          ]),
          CloseCode.INVALID_PAYLOAD,
        );
      });

      it('§8.1 a code point split across fragments is valid: each fragment alone is not', async () => {
        const raw = await openOn();
        raw.write(
          Buffer.concat([
            frame(Opcode.TEXT, Buffer.from([0xe2]), { fin: false }),
            frame(Opcode.CONTINUATION, Buffer.from([0x82]), { fin: false }),
            frame(Opcode.CONTINUATION, Buffer.from([0xac])),
          ]),
        );
        await raw.until(() => parseFrames(wire(raw)).length >= 1);
        expect(wire(raw).toString('hex')).toBe(serverFrame(Opcode.TEXT, '€').toString('hex'));
      });

      it('§5.6 a binary message is not checked for UTF-8', async () => {
        const raw = await openOn();
        raw.write(frame(Opcode.BINARY, Buffer.from([0xff, 0xfe, 0xc0, 0x80])));
        await raw.until(() => parseFrames(wire(raw)).length >= 1);
        expect(wire(raw).toString('hex')).toBe(
          serverFrame(Opcode.BINARY, Buffer.from([0xff, 0xfe, 0xc0, 0x80])).toString('hex'),
        );
      });
    });

    describe('§10.4 maxPayload (64 KiB here)', () => {
      const limited = { ...echo, maxPayload: 65536 };

      it('§10.4 a message of exactly maxPayload bytes is echoed', async () => {
        const raw = await openOn(limited);
        raw.write(frame(Opcode.BINARY, Buffer.alloc(65536, 7)));
        await raw.until(() => parseFrames(wire(raw)).length >= 1);
        expect(parseFrames(wire(raw))[0]!.payload.length).toBe(65536);
      });

      it('§10.4 one frame over maxPayload: 1009', async () => {
        await expectFailure(
          await openOn(limited),
          frame(Opcode.BINARY, Buffer.alloc(65537)),
          CloseCode.MESSAGE_TOO_BIG,
        );
      });

      it('§10.4 fragments that add up to more than maxPayload: 1009', async () => {
        const raw = await openOn(limited);
        await expectFailure(
          raw,
          Buffer.concat([
            frame(Opcode.TEXT, 'a'.repeat(40_000), { fin: false }),
            frame(Opcode.CONTINUATION, 'b'.repeat(25_537)),
          ]),
          CloseCode.MESSAGE_TOO_BIG,
        );
      });

      it('§10.4 a frame header that announces 4 GiB: 1009 at once, without waiting for the payload', async () => {
        const raw = await openOn(limited);
        const header = Buffer.from([0x82, 0xff, 0, 0, 0, 1, 0, 0, 0, 0, 1, 2, 3, 4]);
        await expectFailure(raw, header, CloseCode.MESSAGE_TOO_BIG);
      });

      /** RFC 7692 §7.2.1: a compressed message payload, without the 00 00 ff ff tail of the sync flush. */
      const deflate = (data: Buffer): Buffer => {
        const deflated = deflateRawSync(data, { finishFlush: zlib.Z_SYNC_FLUSH });
        return deflated.subarray(0, deflated.length - 4);
      };
      const openDeflate = async (): Promise<RawClient> => {
        const raw = await open(await serve([{ path: '/ws', handlers: { ...limited, compression: true } }]), '/ws', {
          'Sec-WebSocket-Extensions': 'permessage-deflate',
        });
        expect(raw.received.toString('latin1')).toMatch(/sec-websocket-extensions: permessage-deflate/i);
        return raw;
      };

      it('§10.4 with permessage-deflate, a small frame that inflates past maxPayload: 1009', async () => {
        const raw = await openDeflate();
        const payload = deflate(Buffer.alloc(65537, 0x61));
        expect(payload.length).toBeLessThan(1000);
        await expectFailure(raw, frame(Opcode.TEXT, payload, { rsv: 4 }), CloseCode.MESSAGE_TOO_BIG);
      });

      it('§10.4 with permessage-deflate, a message of exactly maxPayload bytes is accepted even when deflate made it larger', async () => {
        const raw = await openDeflate();
        const data = randomBytes(65536);
        const payload = deflate(data);
        expect(payload.length).toBeGreaterThan(65536);
        raw.write(frame(Opcode.BINARY, payload, { rsv: 4 }));
        await raw.until(() => parseFrames(wire(raw)).length >= 1);
        const [reply] = parseFrames(wire(raw));
        expect(reply!.opcode, `the server answered ${wire(raw).subarray(0, 16).toString('hex')}`).toBe(Opcode.BINARY);
        const inflated =
          reply!.rsv & 4
            ? inflateRawSync(Buffer.concat([reply!.payload, Buffer.from([0, 0, 0xff, 0xff])]), {
                finishFlush: zlib.Z_SYNC_FLUSH,
              })
            : reply!.payload;
        expect(inflated.equals(data)).toBe(true);
      });
    });

    describe('§7 closing handshake', () => {
      const valid = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999];
      for (const code of valid) {
        it(`§7.4.1 a client close with ${code} is echoed with its code and reason, then the server closes TCP`, async () => {
          const {
            handlers,
            seen: { closes },
          } = recordingEcho();
          const raw = await openOn(handlers);
          raw.write(closeFrame(code, 'bye'));
          await raw.until(hasClose(raw));
          expect(wire(raw).toString('hex')).toBe(serverClose(code, 'bye').toString('hex'));
          await raw.waitClosed();
          await expect.poll(() => closes).toEqual([{ code, reason: 'bye', wasClean: true }]);
        });
      }

      for (const code of [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535]) {
        it(`§7.4.1 a client close with code ${code}: 1002 (1005, 1006 and 1015 never go on the wire)`, async () => {
          await expectFailure(await openOn(), closeWithPayload(codeBytes(code)), CloseCode.PROTOCOL_ERROR);
        });
      }

      it('§5.5.1 a close with no payload is answered with an empty close; the handler sees 1005', async () => {
        const {
          handlers,
          seen: { closes },
        } = recordingEcho();
        const raw = await openOn(handlers);
        raw.write(closeWithPayload(Buffer.alloc(0)));
        await raw.until(hasClose(raw));
        expect(wire(raw).toString('hex')).toBe(serverClose().toString('hex'));
        await raw.waitClosed();
        await expect.poll(() => closes).toEqual([{ code: CloseCode.NO_STATUS, reason: '', wasClean: true }]);
      });

      it('§5.5.1 a close frame with a 1-byte payload: 1002', async () => {
        await expectFailure(await openOn(), closeWithPayload(Buffer.from([0x03])), CloseCode.PROTOCOL_ERROR);
      });

      it('§5.5.1 a close reason that is not UTF-8: 1007', async () => {
        await expectFailure(
          await openOn(),
          closeWithPayload(codeBytes(1000, Buffer.from([0x62, 0xff, 0x65]))),
          CloseCode.INVALID_PAYLOAD,
        );
      });

      it('§5.5.1 a close reason of 123 bytes of multi-byte UTF-8 is echoed whole', async () => {
        const reason = `${'é'.repeat(61)}!`;
        expect(Buffer.byteLength(reason)).toBe(123);
        const raw = await openOn();
        raw.write(closeFrame(4000, reason));
        await raw.until(hasClose(raw));
        expect(wire(raw).toString('hex')).toBe(serverClose(4000, reason).toString('hex'));
      });

      it('§5.5.1 after a close frame the server sends no data frame, even for data that followed it', async () => {
        const raw = await openOn();
        raw.write(Buffer.concat([closeFrame(1000), frame(Opcode.TEXT, 'too late'), frame(Opcode.PING, 'late')]));
        await raw.waitClosed();
        expect(wire(raw).toString('hex')).toBe(serverClose(1000).toString('hex'));
      });

      it('§7.1.2 a server-initiated close: close frame, then the TCP close once the client answers', async () => {
        const {
          handlers,
          seen: { closes },
        } = recordingEcho({
          message(ws, data) {
            if (data === 'close me') ws.close(4001, 'done');
          },
        });
        const raw = await openOn(handlers);
        raw.write(frame(Opcode.TEXT, 'close me'));
        await raw.until(hasClose(raw));
        expect(wire(raw).toString('hex')).toBe(serverClose(4001, 'done').toString('hex'));
        // The server waits for the client's close frame: no TCP close before it.
        await quietFor(100);
        expect(raw.closed).toBe(false);
        raw.write(closeFrame(4001, 'done'));
        await raw.waitClosed();
        expect(wire(raw).toString('hex')).toBe(serverClose(4001, 'done').toString('hex'));
        await expect.poll(() => closes).toEqual([{ code: 4001, reason: 'done', wasClean: true }]);
      });

      for (const code of [CloseCode.NO_STATUS, CloseCode.ABNORMAL, 1015]) {
        it(`§7.4.1 a handler that closes with ${code} never puts it on the wire: the TypeError becomes 1011`, async () => {
          const errors: Error[] = [];
          const raw = await openOn({
            heartbeat: false,
            message(ws) {
              ws.close(code);
            },
            error(_ws, error) {
              errors.push(error);
            },
          });
          raw.write(frame(Opcode.TEXT, 'close yourself'));
          await raw.until(hasClose(raw));
          const close = parseFrames(wire(raw)).find((f) => f.opcode === Opcode.CLOSE)!;
          const sent = close.payload.readUInt16BE(0);
          expect(isSendableCode(sent), `sent ${sent}`).toBe(true);
          // The invalid code is the handler's bug: it throws, and a throwing handler means 1011.
          expect(wire(raw).toString('hex')).toBe(
            serverClose(CloseCode.INTERNAL_ERROR, 'Internal error').toString('hex'),
          );
          expect(errors.map((e) => e.name)).toEqual(['TypeError']);
        });
      }

      it('§7.1.1 terminate() closes TCP without a close frame; the handler sees 1006 (never sent)', async () => {
        const {
          handlers,
          seen: { closes },
        } = recordingEcho({
          message(ws) {
            ws.terminate();
          },
        });
        const raw = await openOn(handlers);
        raw.write(frame(Opcode.TEXT, 'drop me'));
        await raw.waitClosed();
        expect(wire(raw).length).toBe(0);
        await expect.poll(() => closes).toEqual([{ code: CloseCode.ABNORMAL, reason: '', wasClean: false }]);
      });
    });

    describe('§4.1 pipelining: the handshake and the first frames in one TCP write', () => {
      const first = (): Buffer =>
        Buffer.concat([
          Buffer.from(handshakeRequest('/ws')),
          frame(Opcode.TEXT, 'one'),
          frame(Opcode.PING, 'ping'),
          frame(Opcode.BINARY, Buffer.from([1, 2, 3])),
        ]);
      const expected = Buffer.concat([
        serverFrame(Opcode.TEXT, 'one'),
        serverFrame(Opcode.PONG, 'ping'),
        serverFrame(Opcode.BINARY, Buffer.from([1, 2, 3])),
      ]);

      it('§4.1 on the first request a server sees, and on later ones, nothing is lost or reordered', async () => {
        const s = await serve([{ path: '/ws', handlers: echo }]);
        for (let round = 0; round < 3; round++) {
          const raw = await connect(s);
          raw.write(first());
          expect((await raw.response()).status).toBe(101);
          await raw.until(() => parseFrames(wire(raw)).length >= 3);
          expect(wire(raw).toString('hex'), `round ${round}`).toBe(expected.toString('hex'));
        }
      });

      it('§4.1 behind an async guard, nothing is lost or reordered', async () => {
        const s = await serve([
          {
            path: '/ws',
            handlers: echo,
            guard: async () => {
              await delay(30);
              return undefined;
            },
          },
        ]);
        for (let round = 0; round < 2; round++) {
          const raw = await connect(s);
          raw.write(first());
          expect((await raw.response()).status).toBe(101);
          await raw.until(() => parseFrames(wire(raw)).length >= 3);
          expect(wire(raw).toString('hex'), `round ${round}`).toBe(expected.toString('hex'));
        }
      });

      it('§4.1 the handshake, a message and a close in one write: 101, echo, close echo, TCP close', async () => {
        const s = await serve([{ path: '/ws', handlers: echo }]);
        for (let round = 0; round < 2; round++) {
          const raw = await connect(s);
          raw.write(
            Buffer.concat([Buffer.from(handshakeRequest('/ws')), frame(Opcode.TEXT, 'hi'), closeFrame(1000, 'bye')]),
          );
          await raw.waitClosed();
          expect(raw.received.toString('latin1').startsWith('HTTP/1.1 101 Switching Protocols\r\n')).toBe(true);
          expect(wire(raw).toString('hex'), `round ${round}`).toBe(
            Buffer.concat([serverFrame(Opcode.TEXT, 'hi'), serverClose(1000, 'bye')]).toString('hex'),
          );
        }
      });

      it('§4.1 a handshake that arrives a few bytes at a time still gets its 101', async () => {
        const s = await serve([{ path: '/ws', handlers: echo }]);
        for (let round = 0; round < 2; round++) {
          const raw = await connect(s);
          raw.socket.setNoDelay(true);
          const bytes = Buffer.concat([Buffer.from(handshakeRequest('/ws')), frame(Opcode.TEXT, 'slow')]);
          for (let at = 0; at < bytes.length; at += 16) {
            raw.write(bytes.subarray(at, at + 16));
            await delay(2);
          }
          expect((await raw.response()).status).toBe(101);
          await raw.until(() => parseFrames(wire(raw)).length >= 1);
          expect(wire(raw).toString('hex')).toBe(serverFrame(Opcode.TEXT, 'slow').toString('hex'));
        }
      });
    });
  });
}
