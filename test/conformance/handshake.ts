/** Conformance: handshake errors get proper HTTP answers; subprotocol selection; permessage-deflate. */
import { describe, expect, it } from 'vitest';
import { WebSocket as UndiciWebSocket } from 'undici';
import { CloseCode } from '@switchyard/core';
import {
  ACCEPT,
  Opcode,
  RawClient,
  captureWarnings,
  closeCodeOf,
  delay,
  frame,
  handshakeRequest,
  messages,
  openWs,
  readResponse,
} from '../helpers.js';
import type { Conformance } from './context.js';
import { echo } from './context.js';

export function describeHandshake({ harness, serve, track }: Conformance): void {
  describe('5. handshake errors get proper HTTP answers', () => {
    const cases: Array<{
      name: string;
      request: (path: string) => string;
      status: number;
      header?: [string, string];
      body: RegExp;
      framework?: true;
    }> = [
      {
        name: 'missing key',
        request: (p) => handshakeRequest(p, { 'Sec-WebSocket-Key': null }),
        status: 400,
        body: /Sec-WebSocket-Key/,
      },
      {
        name: 'invalid key',
        request: (p) => handshakeRequest(p, { 'Sec-WebSocket-Key': 'not-base64!' }),
        status: 400,
        body: /Sec-WebSocket-Key/,
      },
      {
        name: 'short key',
        request: (p) => handshakeRequest(p, { 'Sec-WebSocket-Key': 'AAAA' }),
        status: 400,
        body: /Sec-WebSocket-Key/,
      },
      {
        name: 'version 8',
        request: (p) => handshakeRequest(p, { 'Sec-WebSocket-Version': '8' }),
        status: 426,
        header: ['sec-websocket-version', '13'],
        body: /version 13/,
      },
      {
        name: 'version 14',
        request: (p) => handshakeRequest(p, { 'Sec-WebSocket-Version': '14' }),
        status: 426,
        header: ['sec-websocket-version', '13'],
        body: /version 13/,
      },
      {
        name: 'missing version',
        request: (p) => handshakeRequest(p, { 'Sec-WebSocket-Version': null }),
        status: 426,
        header: ['sec-websocket-version', '13'],
        body: /version 13/,
      },
      {
        name: 'POST',
        request: (p) => handshakeRequest(p, { 'Content-Length': '0' }, `POST ${p} HTTP/1.1`),
        status: 405,
        header: ['allow', 'GET'],
        body: /GET/,
      },
      harness.unroutedMethodStatus === undefined
        ? {
            name: 'PUT',
            request: (p) => handshakeRequest(p, { 'Content-Length': '0' }, `PUT ${p} HTTP/1.1`),
            status: 405,
            header: ['allow', 'GET'],
            body: /GET/,
          }
        : {
            name: "PUT (the framework's own answer)",
            request: (p) => handshakeRequest(p, { 'Content-Length': '0' }, `PUT ${p} HTTP/1.1`),
            status: harness.unroutedMethodStatus,
            body: /./,
            framework: true,
          },
      {
        name: 'origin not allowed',
        request: (p) => handshakeRequest(p, { Origin: 'https://evil.example' }),
        status: 403,
        body: /evil\.example/,
      },
      {
        name: 'malformed subprotocol list',
        request: (p) => handshakeRequest(p, { 'Sec-WebSocket-Protocol': 'chat,,json' }),
        status: 400,
        body: /Sec-WebSocket-Protocol/,
      },
    ];
    for (const c of cases) {
      it(`${c.name}: ${c.status}, a short text body and Connection: close`, async () => {
        const s = await serve([{ path: '/ws', handlers: { ...echo, origins: ['https://good.example'] } }]);
        for (let round = 0; round < 2; round++) {
          const raw = track(await RawClient.connect(s.port));
          raw.write(c.request('/ws'));
          const response = await readResponse(raw);
          expect(response.statusLine).toMatch(/^HTTP\/1\.1 \d{3} [A-Za-z ]+$/);
          expect(response.status).toBe(c.status);
          expect(response.headers.connection).toBe('close');
          expect(response.body).toMatch(c.body);
          expect(response.body.length).toBeLessThan(200);
          // switchyard's own answers are short text; a framework's answer is in its own format.
          if (!c.framework) expect(response.headers['content-type']).toMatch(/^text\/plain/);
          if (c.header) expect(response.headers[c.header[0]]).toBe(c.header[1]);
          await raw.waitClosed();
        }
      });
    }

    it('an allowed origin connects; a client without Origin connects', async () => {
      const s = await serve([{ path: '/ws', handlers: { ...echo, origins: ['https://good.example'] } }]);
      for (const options of [{ origin: 'https://good.example' }, {}]) {
        const ws = track(await openWs(s.url('/ws'), undefined, options));
        ws.send('allowed');
        expect((await messages(ws).next()).data.toString()).toBe('allowed');
      }
    });

    it('binary garbage and malformed requests never crash the process', async () => {
      const s = await serve([{ path: '/ws', handlers: echo }]);
      const garbage = [
        Buffer.from([0x00, 0xff, 0x81, 0x82, 0x13, 0x37, 0x0d, 0x0a, 0x0d, 0x0a]),
        Buffer.from(
          'GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: \u0000\u0001\r\n\r\n',
          'latin1',
        ),
        Buffer.from(
          `GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${'A'.repeat(5000)}\r\n\r\n`,
        ),
        Buffer.concat([
          Buffer.from(handshakeRequest('/ws')),
          Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
        ]),
      ];
      for (const bytes of garbage) {
        const raw = track(await RawClient.connect(s.port));
        raw.write(bytes);
        await Promise.race([raw.waitClosed(2000).catch(() => undefined), delay(500)]);
        raw.destroy();
      }
      const ws = track(await openWs(s.url('/ws')));
      const inbox = messages(ws);
      ws.send('still up');
      expect((await inbox.next()).data.toString()).toBe('still up');
    });
  });

  describe('6. subprotocols', () => {
    it("selects by the server's preference order, for ws, undici and a browser-style offer", async () => {
      const s = await serve([{ path: '/chat', handlers: { ...echo, protocols: ['chat', 'soap'] } }]);
      const ws = track(await openWs(s.url('/chat'), ['soap', 'chat']));
      expect(ws.protocol).toBe('chat');
      const undici = new UndiciWebSocket(s.url('/chat'), ['soap', 'chat']);
      await new Promise((resolve, rejectOpen) => {
        undici.onopen = resolve;
        undici.onerror = rejectOpen;
      });
      expect(undici.protocol).toBe('chat');
      undici.close();
    });

    it('a function chooses from the offer and sees the request', async () => {
      const seen: Array<[string[], string]> = [];
      const s = await serve([
        {
          path: '/fn',
          handlers: {
            ...echo,
            protocols: (offered, req) => {
              seen.push([offered, req.path]);
              return offered.find((p) => p.startsWith('v2.'));
            },
          },
        },
      ]);
      const ws = track(await openWs(s.url('/fn'), ['v1.chat', 'v2.chat']));
      expect(ws.protocol).toBe('v2.chat');
      expect(seen).toEqual([[['v1.chat', 'v2.chat'], '/fn']]);
      const raw = track(await RawClient.connect(s.port));
      raw.write(handshakeRequest('/fn', { 'Sec-WebSocket-Protocol': 'v1.chat' }));
      expect((await readResponse(raw)).status).toBe(400);
    });

    it('no match: 400 whose body names what was offered and what the endpoint speaks', async () => {
      const s = await serve([{ path: '/chat', handlers: { ...echo, protocols: ['chat', 'json'] } }]);
      const raw = track(await RawClient.connect(s.port));
      raw.write(handshakeRequest('/chat', { 'Sec-WebSocket-Protocol': 'soap,  mqtt' }));
      const response = await readResponse(raw);
      expect(response.status).toBe(400);
      expect(response.body).toContain('soap, mqtt');
      expect(response.body).toContain('chat, json');
      await expect(openWs(s.url('/chat'), ['soap'])).rejects.toThrow(/400/);
    });

    it('no protocols declared but some offered: no header, and one warning that explains why browsers fail', async () => {
      const capture = captureWarnings('SWITCHYARD_NO_SUBPROTOCOL');
      try {
        const s = await serve([{ path: '/plain', handlers: echo }]);
        for (let round = 0; round < 2; round++) {
          const raw = track(await RawClient.connect(s.port));
          raw.write(handshakeRequest('/plain', { 'Sec-WebSocket-Protocol': 'soap, chat' }));
          const response = await raw.response();
          expect(response.status).toBe(101);
          expect(response.headers['sec-websocket-protocol']).toBeUndefined();
        }
        expect(capture.warnings).toHaveLength(1);
        expect(capture.warnings[0]!.message).toMatch(/soap, chat/);
        expect(capture.warnings[0]!.message).toMatch(/Browsers fail/);
      } finally {
        capture.stop();
      }
    });

    it('a client that offers none is accepted without the header', async () => {
      const s = await serve([{ path: '/chat', handlers: { ...echo, protocols: ['chat'] } }]);
      const raw = track(await RawClient.connect(s.port));
      raw.write(handshakeRequest('/chat'));
      const response = await raw.response();
      expect(response.status).toBe(101);
      expect(response.headers['sec-websocket-accept']).toBe(ACCEPT);
      expect(response.headers['sec-websocket-protocol']).toBeUndefined();
    });
  });

  describe('7. compression', () => {
    it('is off by default: the offer is declined and frames carry no RSV bit', async () => {
      const s = await serve([{ path: '/echo', handlers: echo }]);
      const raw = track(await RawClient.connect(s.port));
      raw.write(
        handshakeRequest('/echo', { 'Sec-WebSocket-Extensions': 'permessage-deflate; client_max_window_bits' }),
      );
      const response = await raw.response();
      expect(response.status).toBe(101);
      expect(response.headers['sec-websocket-extensions']).toBeUndefined();
      const text = 'a'.repeat(5000);
      raw.write(frame(Opcode.TEXT, text));
      await raw.until(() => raw.frames().length >= 1);
      expect(raw.frames()[0]!.rsv).toBe(0);
      expect(raw.frames()[0]!.payload.toString()).toBe(text);
      const ws = track(await openWs(s.url('/echo'), undefined, { perMessageDeflate: true }));
      expect(ws.extensions).toBe('');
    });

    it('a frame with RSV1 set on an uncompressed endpoint is a protocol error (1002)', async () => {
      const s = await serve([{ path: '/echo', handlers: echo }]);
      const raw = track(await RawClient.connect(s.port));
      raw.write(handshakeRequest('/echo'));
      await raw.response();
      raw.write(frame(Opcode.TEXT, 'x', { rsv: 4 }));
      await raw.until(() => raw.frames().some((f) => f.opcode === Opcode.CLOSE));
      expect(closeCodeOf(raw.frames().find((f) => f.opcode === Opcode.CLOSE))).toBe(CloseCode.PROTOCOL_ERROR);
    });

    it('can be turned on per endpoint', async () => {
      const s = await serve([{ path: '/deflate', handlers: { ...echo, compression: true } }]);
      const ws = track(await openWs(s.url('/deflate'), undefined, { perMessageDeflate: true }));
      expect(ws.extensions).toContain('permessage-deflate');
      const inbox = messages(ws);
      const big = 'compressible '.repeat(10_000);
      ws.send(big);
      expect((await inbox.next()).data.toString()).toBe(big);
    });
  });
}
