/**
 * The shared conformance suite. Every adapter runs it from a short test file:
 *
 *   runConformance(expressHarness);
 *
 * Real servers on 127.0.0.1:0, real frameworks, and real clients: the `ws` client, undici's
 * WebSocket, faye-websocket's client, and raw `net` sockets for byte-level checks.
 */
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { afterEach, describe, expect, it, vi } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { WebSocket as UndiciWebSocket } from 'undici';
import Faye from 'faye-websocket';
import type { CloseEvent, Connection } from '@switchyard/core';
import { CloseCode, reject } from '@switchyard/core';
import type { Harness, Mount, ServeOptions, Started } from './harness.js';
import { start } from './harness.js';
import {
  ACCEPT, Opcode, RawClient, captureWarnings, closeCodeOf, closeFrame, closed, delay, frame,
  handshakeRequest, messages, openWs, parseFrames, readResponse, selfSignedCert,
} from './helpers.js';

const echo: Mount['handlers'] = {
  heartbeat: false,
  message(ws, data) {
    ws.send(data);
  },
};

export function runConformance(harness: Harness): void {
  describe(`${harness.name}: conformance`, () => {
    const running: Started[] = [];
    const clients: Array<{ close(): void } | { terminate(): void } | { destroy(): void }> = [];
    const serve = async (mounts: Mount[], options?: ServeOptions): Promise<Started> => {
      const started = await start(harness, mounts, options);
      running.push(started);
      return started;
    };
    const track = <T extends WebSocket | RawClient>(client: T): T => {
      clients.push(client);
      return client;
    };
    afterEach(async () => {
      for (const client of clients.splice(0)) {
        if ('terminate' in client) client.terminate();
        else if ('destroy' in client) client.destroy();
      }
      await Promise.all(running.splice(0).map((s) => s.close()));
      vi.restoreAllMocks();
    });

    describe('1. servers', () => {
      it('serves ws:// from http.createServer', async () => {
        const s = await serve([{ path: '/echo', handlers: echo }]);
        const ws = track(await openWs(s.url('/echo')));
        const inbox = messages(ws);
        ws.send('over http');
        expect((await inbox.next()).data.toString()).toBe('over http');
      });

      it('serves wss:// from https.createServer with a self-signed certificate', async () => {
        const tlsOptions = await selfSignedCert();
        const s = await serve([{ path: '/echo', handlers: echo }], { https: tlsOptions });
        expect(s.url('/echo').startsWith('wss://')).toBe(true);
        const ws = track(await openWs(s.url('/echo'), undefined, { ca: tlsOptions.cert }));
        const inbox = messages(ws);
        ws.send('over tls');
        expect((await inbox.next()).data.toString()).toBe('over tls');
        // And a second connection, after the server has seen a request.
        const again = track(await openWs(s.url('/echo'), undefined, { ca: tlsOptions.cert }));
        const inbox2 = messages(again);
        again.send('again');
        expect((await inbox2.next()).data.toString()).toBe('again');
      });
    });

    describe('2. middleware runs before the 101', () => {
      for (const status of [401, 403, 429]) {
        it(`a ${status} from middleware goes out as HTTP with its headers and body, and no 101`, async () => {
          const headers: Record<string, string> = status === 401 ? { 'WWW-Authenticate': 'Bearer realm="chat"' } : status === 429 ? { 'Retry-After': '7' } : { 'X-Reason': 'banned' };
          const s = await serve([{
            path: '/private',
            handlers: echo,
            guard: (req) => (req.headers.authorization === 'Bearer ok' ? undefined : { status, headers, body: `denied ${status}` }),
          }]);
          for (let round = 0; round < 2; round++) {
            const raw = track(await RawClient.connect(s.port));
            raw.write(handshakeRequest('/private'));
            const response = await readResponse(raw);
            expect(response.status).toBe(status);
            for (const [name, value] of Object.entries(headers)) expect(response.headers[name.toLowerCase()]).toBe(value);
            expect(response.body).toBe(`denied ${status}`);
            expect(raw.received.toString('latin1')).not.toContain(' 101 ');
          }
          // The ws client sees the status too; with the header it connects.
          const rejected = new WebSocket(s.url('/private'));
          rejected.on('error', () => {});
          const seen = await new Promise<number>((resolve) => rejected.once('unexpected-response', (_req, res) => resolve(res.statusCode!)));
          expect(seen).toBe(status);
          rejected.terminate();
          const ok = track(await openWs(s.url('/private'), undefined, { headers: { authorization: 'Bearer ok' } }));
          expect(ok.readyState).toBe(WebSocket.OPEN);
        });
      }

      it('a routed upgrade answered by middleware closes the socket after the response', async () => {
        const s = await serve([{ path: '/private', handlers: echo, guard: () => ({ status: 401, body: 'no' }) }]);
        // The first request teaches switchyard the server; the second is routed from 'upgrade'.
        await fetch(`http://127.0.0.1:${s.port}/private`).catch(() => undefined);
        const raw = track(await RawClient.connect(s.port));
        raw.write(handshakeRequest('/private'));
        const response = await readResponse(raw);
        expect(response.status).toBe(401);
        await raw.waitClosed();
      });

      it("an error from middleware sends the app's error response as HTTP", async () => {
        const s = await serve([{ path: '/broken', handlers: echo, guard: () => new Error('middleware failed') }]);
        vi.spyOn(console, 'error').mockImplementation(() => {});
        for (let round = 0; round < 2; round++) {
          const raw = track(await RawClient.connect(s.port));
          raw.write(handshakeRequest('/broken'));
          const response = await raw.response();
          expect(response.status).toBe(500);
          expect(raw.received.toString('latin1')).not.toContain(' 101 ');
        }
      });

      it('an async guard still runs before the 101 and can pass', async () => {
        const s = await serve([{ path: '/slow', handlers: echo, guard: async () => { await delay(50); return undefined; } }]);
        for (let round = 0; round < 2; round++) {
          const ws = track(await openWs(s.url('/slow')));
          const inbox = messages(ws);
          ws.send(`round ${round}`);
          expect((await inbox.next()).data.toString()).toBe(`round ${round}`);
        }
      });
    });

    describe('3. nothing reaches the socket after the 101', () => {
      it("survives Node's request, headers and keep-alive timers at 1 s for 5 s, with no stray byte", async () => {
        const s = await serve(
          [{ path: '/echo', handlers: echo }, { path: '/async', handlers: echo, guard: async () => { await delay(20); return undefined; } }],
          { server: { requestTimeout: 1000, headersTimeout: 1000, keepAliveTimeout: 1000, connectionsCheckingInterval: 100 } as http.ServerOptions },
        );
        // First connection: taken from the 'request' event. Second: routed from 'upgrade'.
        // Third: taken after an await in middleware.
        const clientsUnderTest: RawClient[] = [];
        for (const path of ['/echo', '/echo', '/async']) {
          const raw = track(await RawClient.connect(s.port));
          raw.write(handshakeRequest(path));
          const head = await raw.response();
          expect(head.status).toBe(101);
          clientsUnderTest.push(raw);
        }
        await delay(5200);
        for (const [i, raw] of clientsUnderTest.entries()) {
          expect(raw.closed, `client ${i} closed`).toBe(false);
          raw.write(frame(Opcode.TEXT, `still here ${i}`));
          await raw.until(() => raw.frames().length >= 1);
          const frames = raw.frames();
          expect(frames).toHaveLength(1);
          expect(frames[0]!.opcode).toBe(Opcode.TEXT);
          expect(frames[0]!.payload.toString()).toBe(`still here ${i}`);
          const text = raw.received.toString('latin1');
          expect(text.match(/HTTP\/1\.1/g)).toHaveLength(1);
          expect(text).not.toContain('408');
        }
      }, 15_000);

      for (const kind of ['send', 'error'] as const) {
        it(`a late ${kind === 'send' ? 'res.send(503)' : 'error'} from middleware is dropped, with one warning naming the path`, async () => {
          const capture = captureWarnings('SWITCHYARD_LATE_WRITE');
          vi.spyOn(console, 'error').mockImplementation(() => {});
          try {
            const s = await serve([{ path: '/late', handlers: echo, lateWrite: { kind, ms: 100 } }]);
            const raws: RawClient[] = [];
            for (let round = 0; round < 2; round++) {
              const raw = track(await RawClient.connect(s.port));
              raw.write(handshakeRequest('/late?x=1'));
              expect((await raw.response()).status).toBe(101);
              raws.push(raw);
            }
            await delay(300);
            for (const raw of raws) {
              raw.write(frame(Opcode.TEXT, 'alive'));
              await raw.until(() => raw.frames().length >= 1);
              expect(raw.frames().map((f) => f.payload.toString())).toEqual(['alive']);
              expect(raw.received.toString('latin1').match(/HTTP\/1\.1/g)).toHaveLength(1);
            }
            expect(capture.warnings).toHaveLength(1);
            expect(capture.warnings[0]!.message).toContain('/late');
            expect(capture.warnings[0]!.message).not.toContain('x=1');
          } finally {
            capture.stop();
          }
        });
      }
    });

    describe('4. plain requests pass through', () => {
      it('a GET without Upgrade reaches the page handler on the same path', async () => {
        const s = await serve([{ path: '/chat', handlers: echo, page: 'the chat page' }]);
        const response = await fetch(`http://127.0.0.1:${s.port}/chat`);
        expect(response.status).toBe(200);
        expect(await response.text()).toBe('the chat page');
        const ws = track(await openWs(s.url('/chat')));
        expect(ws.readyState).toBe(WebSocket.OPEN);
        const again = await fetch(`http://127.0.0.1:${s.port}/chat`);
        expect(await again.text()).toBe('the chat page');
      });
    });

    describe('5. handshake errors get proper HTTP answers', () => {
      const cases: Array<{ name: string; request: (path: string) => string; status: number; header?: [string, string]; body: RegExp; framework?: true }> = [
        { name: 'missing key', request: (p) => handshakeRequest(p, { 'Sec-WebSocket-Key': null }), status: 400, body: /Sec-WebSocket-Key/ },
        { name: 'invalid key', request: (p) => handshakeRequest(p, { 'Sec-WebSocket-Key': 'not-base64!' }), status: 400, body: /Sec-WebSocket-Key/ },
        { name: 'short key', request: (p) => handshakeRequest(p, { 'Sec-WebSocket-Key': 'AAAA' }), status: 400, body: /Sec-WebSocket-Key/ },
        { name: 'version 8', request: (p) => handshakeRequest(p, { 'Sec-WebSocket-Version': '8' }), status: 426, header: ['sec-websocket-version', '13'], body: /version 13/ },
        { name: 'version 14', request: (p) => handshakeRequest(p, { 'Sec-WebSocket-Version': '14' }), status: 426, header: ['sec-websocket-version', '13'], body: /version 13/ },
        { name: 'missing version', request: (p) => handshakeRequest(p, { 'Sec-WebSocket-Version': null }), status: 426, header: ['sec-websocket-version', '13'], body: /version 13/ },
        { name: 'POST', request: (p) => handshakeRequest(p, { 'Content-Length': '0' }, `POST ${p} HTTP/1.1`), status: 405, header: ['allow', 'GET'], body: /GET/ },
        harness.unroutedMethodStatus === undefined
          ? { name: 'PUT', request: (p) => handshakeRequest(p, { 'Content-Length': '0' }, `PUT ${p} HTTP/1.1`), status: 405, header: ['allow', 'GET'], body: /GET/ }
          : { name: "PUT (the framework's own answer)", request: (p) => handshakeRequest(p, { 'Content-Length': '0' }, `PUT ${p} HTTP/1.1`), status: harness.unroutedMethodStatus, body: /./, framework: true },
        { name: 'origin not allowed', request: (p) => handshakeRequest(p, { Origin: 'https://evil.example' }), status: 403, body: /evil\.example/ },
        { name: 'malformed subprotocol list', request: (p) => handshakeRequest(p, { 'Sec-WebSocket-Protocol': 'chat,,json' }), status: 400, body: /Sec-WebSocket-Protocol/ },
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
        track(await openWs(s.url('/ws'), undefined, { origin: 'https://good.example' }));
        track(await openWs(s.url('/ws')));
      });

      it('binary garbage and malformed requests never crash the process', async () => {
        const s = await serve([{ path: '/ws', handlers: echo }]);
        const garbage = [
          Buffer.from([0x00, 0xff, 0x81, 0x82, 0x13, 0x37, 0x0d, 0x0a, 0x0d, 0x0a]),
          Buffer.from('GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: \u0000\u0001\r\n\r\n', 'latin1'),
          Buffer.from('GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ' + 'A'.repeat(5000) + '\r\n\r\n'),
          Buffer.concat([Buffer.from(handshakeRequest('/ws')), Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff])]),
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
        const s = await serve([{
          path: '/fn',
          handlers: { ...echo, protocols: (offered, req) => { seen.push([offered, req.path]); return offered.find((p) => p.startsWith('v2.')); } },
        }]);
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
        raw.write(handshakeRequest('/echo', { 'Sec-WebSocket-Extensions': 'permessage-deflate; client_max_window_bits' }));
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

    describe('8. no early message is lost', () => {
      it('frames in the same TCP write as the handshake arrive, in order', async () => {
        const s = await serve([{ path: '/echo', handlers: echo }, { path: '/guarded', handlers: echo, guard: async () => { await delay(30); return undefined; } }]);
        await fetch(`http://127.0.0.1:${s.port}/`).catch(() => undefined);
        for (const path of ['/echo', '/echo', '/guarded']) {
          const raw = track(await RawClient.connect(s.port));
          raw.write(Buffer.concat([Buffer.from(handshakeRequest(path)), frame(Opcode.TEXT, 'one'), frame(Opcode.TEXT, 'two'), frame(Opcode.BINARY, Buffer.from([3]))]));
          expect((await raw.response()).status).toBe(101);
          await raw.until(() => raw.frames().length >= 3);
          expect(raw.frames().map((f) => [f.opcode, f.payload.toString('hex')])).toEqual([
            [Opcode.TEXT, Buffer.from('one').toString('hex')], [Opcode.TEXT, Buffer.from('two').toString('hex')], [Opcode.BINARY, '03'],
          ]);
        }
      });

      it('the very first request of a server, with frames in the same write, loses nothing', async () => {
        const s = await serve([{ path: '/echo', handlers: echo }]);
        const raw = track(await RawClient.connect(s.port));
        raw.write(Buffer.concat([Buffer.from(handshakeRequest('/echo')), frame(Opcode.TEXT, 'first'), frame(Opcode.TEXT, 'second')]));
        await raw.until(() => raw.frames().length >= 2);
        expect(raw.frames().map((f) => f.payload.toString())).toEqual(['first', 'second']);
      });

      it('frames sent while an async upgrade hook and an async open handler run arrive in order', async () => {
        const received: string[] = [];
        const s = await serve([{
          path: '/slow',
          handlers: {
            heartbeat: false,
            async upgrade() { await delay(100); return { context: { n: 1 } }; },
            async open(ws) { await delay(100); ws.send('opened'); },
            message(ws, data) { received.push(String(data)); ws.send(data); },
          },
        }]);
        const raw = track(await RawClient.connect(s.port));
        raw.write(handshakeRequest('/slow'));
        for (let i = 0; i < 5; i++) {
          raw.write(frame(Opcode.TEXT, `m${i}`));
          await delay(25);
        }
        await raw.until(() => raw.frames().length >= 6, 4000);
        expect(raw.frames().map((f) => f.payload.toString())).toEqual(['opened', 'm0', 'm1', 'm2', 'm3', 'm4']);
        expect(received).toEqual(['m0', 'm1', 'm2', 'm3', 'm4']);
      });
    });

    describe('9. per-endpoint settings', () => {
      it('two mounts keep their own protocols, compression and maxPayload', async () => {
        const s = await serve([
          { path: '/a', handlers: { ...echo, protocols: ['alpha'], compression: true, maxPayload: 100 } },
          { path: '/b', handlers: { ...echo, protocols: ['beta'], maxPayload: 10_000 } },
        ]);
        const a = track(await openWs(s.url('/a'), ['alpha', 'beta'], { perMessageDeflate: true }));
        const b = track(await openWs(s.url('/b'), ['alpha', 'beta'], { perMessageDeflate: true }));
        expect(a.protocol).toBe('alpha');
        expect(b.protocol).toBe('beta');
        expect(a.extensions).toContain('permessage-deflate');
        expect(b.extensions).toBe('');
        const bInbox = messages(b);
        b.send('x'.repeat(5000));
        expect((await bInbox.next()).data.length).toBe(5000);
        const aClosed = closed(a);
        a.send('x'.repeat(5000));
        expect((await aClosed).code).toBe(CloseCode.MESSAGE_TOO_BIG);
      });
    });

    describe('10. coexistence', () => {
      it("another 'upgrade' consumer keeps its sockets; unclaimed upgrades get the framework's 404", async () => {
        const s = await serve([{ path: '/echo', handlers: echo }]);
        harness.coexist?.(s.server);
        const other = new WebSocketServer({ noServer: true });
        other.on('connection', (ws) => ws.send('from the other server'));
        s.server.on('upgrade', (req, socket, head) => {
          if (req.url === '/other') other.handleUpgrade(req, socket, head, (ws) => other.emit('connection', ws, req));
        });
        for (let round = 0; round < 2; round++) {
          const o = track(await openWs(s.url('/other')));
          expect((await messages(o).next()).data.toString()).toBe('from the other server');
          const e = track(await openWs(s.url('/echo')));
          const inbox = messages(e);
          e.send('mine');
          expect((await inbox.next()).data.toString()).toBe('mine');
        }
        const raw = track(await RawClient.connect(s.port));
        raw.write(handshakeRequest('/nowhere'));
        const response = await raw.response();
        expect(response.status).toBe(404);
        await raw.waitClosed();
        other.close();
      });
    });

    describe('11. handler errors', () => {
      it('a throwing handler closes only its own connection with 1011, and the error hook gets it', async () => {
        const errors: Array<[string | undefined, string]> = [];
        const s = await serve([{
          path: '/fragile',
          handlers: {
            heartbeat: false,
            message(ws, data) {
              if (data === 'throw') throw new Error('sync boom');
              if (data === 'reject') return Promise.reject(new Error('async boom'));
              ws.send(data);
              return undefined;
            },
            error(ws, error) { errors.push([ws?.request.path, error.message]); },
          },
        }]);
        const victim = track(await openWs(s.url('/fragile')));
        const victim2 = track(await openWs(s.url('/fragile')));
        const bystander = track(await openWs(s.url('/fragile')));
        const victimClosed = closed(victim);
        const victim2Closed = closed(victim2);
        victim.send('throw');
        victim2.send('reject');
        expect((await victimClosed).code).toBe(CloseCode.INTERNAL_ERROR);
        expect((await victim2Closed).code).toBe(CloseCode.INTERNAL_ERROR);
        const inbox = messages(bystander);
        bystander.send('fine');
        expect((await inbox.next()).data.toString()).toBe('fine');
        expect(errors).toEqual(expect.arrayContaining([['/fragile', 'sync boom'], ['/fragile', 'async boom']]));
        expect(errors).toHaveLength(2);
      });

      it('without an error hook, each error is logged once and the process survives', async () => {
        const log = vi.spyOn(console, 'error').mockImplementation(() => {});
        const s = await serve([{ path: '/fragile', handlers: { heartbeat: false, open() { throw new Error('open boom'); } } }]);
        const ws = track(await openWs(s.url('/fragile')));
        expect((await closed(ws)).code).toBe(CloseCode.INTERNAL_ERROR);
        expect(log).toHaveBeenCalledTimes(1);
        expect(String(log.mock.calls[0]!.join(' '))).toContain('open boom');
      });

      it('a throwing upgrade hook answers 500 and a reject() answers its status', async () => {
        vi.spyOn(console, 'error').mockImplementation(() => {});
        const s = await serve([{
          path: '/hook',
          handlers: {
            ...echo,
            upgrade(req) {
              if (req.query.mode === 'reject') throw reject(401, 'Unauthorized', { 'WWW-Authenticate': 'Bearer' });
              if (req.query.mode === 'return') return reject(403, 'Forbidden here');
              throw new Error('hook bug');
            },
          },
        }]);
        const answers: Array<[number, string | undefined, string]> = [];
        for (const mode of ['reject', 'return', 'crash']) {
          const raw = track(await RawClient.connect(s.port));
          raw.write(handshakeRequest(`/hook?mode=${mode}`));
          const response = await readResponse(raw);
          answers.push([response.status, response.headers['www-authenticate'], response.body.trim()]);
        }
        expect(answers).toEqual([[401, 'Bearer', 'Unauthorized'], [403, undefined, 'Forbidden here'], [500, undefined, 'Internal Server Error']]);
      });

      it('a malformed frame closes with 1002 and never crashes the process', async () => {
        const s = await serve([{ path: '/echo', handlers: echo }]);
        const raw = track(await RawClient.connect(s.port));
        raw.write(handshakeRequest('/echo'));
        await raw.response();
        raw.write(frame(Opcode.TEXT, 'unmasked', { mask: false }));
        await raw.until(() => raw.frames().some((f) => f.opcode === Opcode.CLOSE));
        expect(closeCodeOf(raw.frames().at(-1))).toBe(CloseCode.PROTOCOL_ERROR);
        const raw2 = track(await RawClient.connect(s.port));
        raw2.write(handshakeRequest('/echo'));
        await raw2.response();
        raw2.write(frame(Opcode.TEXT, Buffer.from([0xc3, 0x28])));
        await raw2.until(() => raw2.frames().some((f) => f.opcode === Opcode.CLOSE));
        expect(closeCodeOf(raw2.frames().at(-1))).toBe(CloseCode.INVALID_PAYLOAD);
      });
    });

    describe('11b. pipelining and faye-style listener faults (regressions)', () => {
      it('a plain GET and a handshake in one write: the 404 first, then the 101, and the socket works', async () => {
        const s = await serve([{ path: '/echo', handlers: echo }]);
        // A first upgrade, so that the server's 'upgrade' route is in place, as on a live server.
        track(await openWs(s.url('/echo'))).terminate();
        const raw = track(await RawClient.connect(s.port));
        raw.write(`GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n${handshakeRequest('/echo')}`);
        await raw.until((b) => b.includes('HTTP/1.1 101'));
        const text = raw.received.toString('latin1');
        expect(text.startsWith('HTTP/1.1 404 ')).toBe(true);
        expect(text.indexOf('HTTP/1.1 101')).toBeGreaterThan(text.indexOf('\r\n\r\n'));
        raw.write(frame(Opcode.TEXT, 'after the pipeline'));
        const framesAfter101 = (): ReturnType<typeof parseFrames> => {
          const head = raw.received.indexOf('\r\n\r\n', raw.received.indexOf('HTTP/1.1 101'));
          return parseFrames(raw.received.subarray(head + 4));
        };
        await raw.until(() => framesAfter101().some((f) => f.payload.toString() === 'after the pipeline'));
      });

      it('a mangled upgrade and a handshake in one write get one well-formed answer and a closed socket', async () => {
        const s = await serve([{ path: '/echo', handlers: echo }]);
        track(await openWs(s.url('/echo'))).terminate();
        const raw = track(await RawClient.connect(s.port));
        const mangled = handshakeRequest('/echo').replace('Upgrade: websocket', 'Upgrade: websockt');
        raw.write(mangled + handshakeRequest('/echo'));
        await raw.waitClosed();
        expect(raw.received.toString('latin1')).toMatch(/^HTTP\/1\.1 (400|404|426) /);
        // The server is still there for the next client.
        const ws = track(await openWs(s.url('/echo')));
        const inbox = messages(ws);
        ws.send('still serving');
        expect((await inbox.next()).data.toString()).toBe('still serving');
      });

      it('a faye-style listener that rejects closes its connection with 1011 and reports the error', async () => {
        const errors: string[] = [];
        const s = await serve([{
          path: '/faye',
          handlers: {
            heartbeat: false,
            open(ws) {
              ws.on('message', async (data) => {
                if (data === 'reject') throw new Error('listener boom');
                ws.send(data);
              });
              ws.on('close', () => Promise.reject(new Error('close listener boom')));
            },
            error(_ws, error) { errors.push(error.message); },
          },
        }]);
        const ws = track(await openWs(s.url('/faye')));
        const inbox = messages(ws);
        ws.send('fine');
        expect((await inbox.next()).data.toString()).toBe('fine');
        const wsClosed = closed(ws);
        ws.send('reject');
        expect((await wsClosed).code).toBe(CloseCode.INTERNAL_ERROR);
        await vi.waitFor(() => expect(errors).toEqual(['listener boom', 'close listener boom']));
      });

      it('a faye-style error listener that throws is logged, and the process survives', async () => {
        const log = vi.spyOn(console, 'error').mockImplementation(() => {});
        const s = await serve([{
          path: '/faye',
          handlers: (ws: Connection) => {
            ws.on('error', () => { throw new Error('error listener boom'); });
          },
        }]);
        const raw = track(await RawClient.connect(s.port));
        raw.write(handshakeRequest('/faye'));
        await raw.response();
        raw.write(frame(7, 'reserved opcode'));
        await raw.until(() => raw.frames().some((f) => f.opcode === Opcode.CLOSE));
        expect(closeCodeOf(raw.frames().find((f) => f.opcode === Opcode.CLOSE))).toBe(CloseCode.PROTOCOL_ERROR);
        await vi.waitFor(() => expect(String(log.mock.calls.flat().join(' '))).toContain('error listener boom'));
      });
    });

    describe('12. heartbeat', () => {
      it('terminates a peer that ignores pings within interval + timeout; its close handler sees 1006', async () => {
        const closes: number[] = [];
        const s = await serve([{
          path: '/hb',
          handlers: { heartbeat: { interval: 200, timeout: 200 }, close(_ws, { code }) { closes.push(code); } },
        }]);
        const raw = track(await RawClient.connect(s.port));
        raw.write(handshakeRequest('/hb'));
        await raw.response();
        const opened = Date.now();
        const alive = track(await openWs(s.url('/hb')));
        await raw.waitClosed(2000);
        const elapsed = Date.now() - opened;
        expect(raw.frames().some((f) => f.opcode === Opcode.PING)).toBe(true);
        expect(elapsed).toBeLessThanOrEqual(200 + 200 + 250);
        await delay(50);
        expect(closes).toEqual([CloseCode.ABNORMAL]);
        await delay(600);
        expect(alive.readyState).toBe(WebSocket.OPEN);
      });

      it('can be turned off', async () => {
        const s = await serve([{ path: '/nohb', handlers: { heartbeat: false } }]);
        const raw = track(await RawClient.connect(s.port));
        raw.write(handshakeRequest('/nohb'));
        await raw.response();
        await delay(300);
        expect(raw.frames()).toEqual([]);
        expect(raw.closed).toBe(false);
      });
    });

    describe('13. shutdown', () => {
      it('every client gets 1001, close handlers run, and new upgrades get 503', async () => {
        const closes: number[] = [];
        const s = await serve([{
          path: '/echo',
          handlers: { ...echo, async close(_ws, event) { await delay(50); closes.push(event.code); } },
        }]);
        const a = track(await openWs(s.url('/echo')));
        const b = track(await openWs(s.url('/echo')));
        const codes = Promise.all([closed(a), closed(b)]);
        const done = harness.shutdown(s.server);
        const raw = track(await RawClient.connect(s.port));
        raw.write(handshakeRequest('/echo'));
        const response = await readResponse(raw);
        expect(response.status).toBe(503);
        await done;
        expect(closes).toEqual([CloseCode.GOING_AWAY, CloseCode.GOING_AWAY]);
        expect((await codes).map((c) => c.code)).toEqual([CloseCode.GOING_AWAY, CloseCode.GOING_AWAY]);
      });
    });

    describe('connection API', () => {
      it('exposes request, protocol, readyState, context, and text as string / binary as Buffer', async () => {
        let seen: Record<string, unknown> = {};
        const s = await serve([{
          path: '/api',
          user: 'ann',
          handlers: {
            heartbeat: false,
            protocols: ['chat'],
            upgrade(req) { return { context: { user: String(req.state.user ?? req.query.user), id: req.query.id } }; },
            message(ws: Connection<{ user: string }>, data, isBinary) {
              seen = {
                type: typeof data, isBuffer: Buffer.isBuffer(data), isBinary, readyState: ws.readyState, protocol: ws.protocol,
                path: ws.request.path, url: ws.request.url, query: { ...ws.request.query }, origin: ws.request.origin,
                remote: ws.request.remoteAddress, host: ws.request.headers.host, user: ws.context.user, extensions: ws.extensions,
              };
              ws.send(isBinary ? data : `${ws.context.user}: ${String(data)}`);
            },
          },
        }]);
        const ws = track(await openWs(s.url('/api?id=7&id=8'), ['chat'], { origin: 'https://app.example' }));
        const inbox = messages(ws);
        ws.send('hi');
        expect((await inbox.next()).data.toString()).toBe('ann: hi');
        expect(seen).toEqual({
          type: 'string', isBuffer: false, isBinary: false, readyState: 1, protocol: 'chat', path: '/api', url: '/api?id=7&id=8',
          query: { id: ['7', '8'] }, origin: 'https://app.example', remote: '127.0.0.1', host: `127.0.0.1:${s.port}`, user: 'ann', extensions: '',
        });
        ws.send(Buffer.from([1, 2, 3]));
        const binary = await inbox.next();
        expect(binary.isBinary).toBe(true);
        expect([...binary.data]).toEqual([1, 2, 3]);
        expect(seen.isBuffer).toBe(true);
      });

      it('ws.request.headers keeps the default list (no credentials, nothing padded); the upgrade hook sees them all', async () => {
        let hookSaw: Record<string, unknown> = {};
        let kept: Record<string, unknown> = {};
        const s = await serve([{
          path: '/headers',
          handlers: {
            heartbeat: false,
            protocols: ['chat'],
            upgrade(req) { hookSaw = { ...req.headers }; },
            open(ws) { kept = { ...ws.request.headers }; ws.send('ok'); },
          },
        }]);
        const headers = { 'x-trace': 'abc', cookie: 'sid=1', 'x-forwarded-for': '203.0.113.9', 'user-agent': 'u'.repeat(2000) };
        const ws = track(await openWs(s.url('/headers'), ['chat'], { headers }));
        expect((await messages(ws).next()).data.toString()).toBe('ok');
        for (const name of ['upgrade', 'connection', 'sec-websocket-key', 'sec-websocket-version', 'x-trace', 'cookie', 'user-agent']) {
          expect(hookSaw[name], name).toBeDefined();
        }
        expect(kept).toEqual({ host: `127.0.0.1:${s.port}`, 'x-forwarded-for': '203.0.113.9' });
      });

      it('keepHeaders names the headers a connection keeps, whole; true keeps all but the handshake\'s own', async () => {
        const seen: Record<string, Record<string, unknown>> = {};
        const open = (name: string) => (ws: Connection) => { seen[name] = { ...ws.request.headers }; ws.send('ok'); };
        const s = await serve([
          { path: '/named', handlers: { heartbeat: false, keepHeaders: ['X-Trace', 'cookie'], protocols: ['chat'], open: open('named') } },
          { path: '/all', handlers: { heartbeat: false, keepHeaders: true, protocols: ['chat'], open: open('all') } },
        ]);
        const headers = { 'x-trace': 'abc', cookie: `sid=${'c'.repeat(3000)}`, 'x-other': '1' };
        for (const path of ['/named', '/all']) {
          const ws = track(await openWs(s.url(path), ['chat'], { headers }));
          expect((await messages(ws).next()).data.toString()).toBe('ok');
        }
        expect(seen.named).toEqual({ 'x-trace': 'abc', cookie: headers.cookie });
        expect(seen.all).toMatchObject({ host: `127.0.0.1:${s.port}`, ...headers, 'sec-websocket-protocol': 'chat' });
        for (const name of ['upgrade', 'connection', 'sec-websocket-key', 'sec-websocket-version', 'sec-websocket-extensions']) {
          expect(seen.all![name], name).toBeUndefined();
        }
      });

      it("socket listeners from before the request (connection tracking) stay on the WebSocket's socket", async () => {
        const s = await serve([{ path: '/tracked', handlers: echo }]);
        const seen: string[] = [];
        s.server.on('connection', (socket) => {
          socket.on('close', () => seen.push('close'));
          socket.once('end', () => seen.push('end'));
        });
        const ws = track(await openWs(s.url('/tracked')));
        const inbox = messages(ws);
        ws.send('still echoing');
        expect((await inbox.next()).data.toString()).toBe('still echoing');
        ws.close(1000);
        await vi.waitFor(() => expect(seen).toEqual(['end', 'close']));
      });

      it('route params reach the upgrade hook', async () => {
        const s = await serve([{
          path: '/rooms/:id',
          handlers: { heartbeat: false, upgrade(req) { return { context: req.params.id }; }, open(ws) { ws.send(`room ${String(ws.context)}`); } },
        }]);
        const ws = track(await openWs(s.url('/rooms/42')));
        expect((await messages(ws).next()).data.toString()).toBe('room 42');
      });

      it('faye style: a function per connection with on(message/close)', async () => {
        const closes: Array<CloseEvent & { from: string | undefined }> = [];
        const s = await serve([{
          path: '/events',
          handlers: (ws, req) => {
            ws.send(`hello ${req.path}`);
            ws.on('message', (data) => ws.send(data));
            ws.on('close', (event) => closes.push({ ...event, from: ws.request.remoteAddress }));
          },
        }]);
        const ws = track(await openWs(s.url('/events')));
        const inbox = messages(ws);
        expect((await inbox.next()).data.toString()).toBe('hello /events');
        ws.send('echo me');
        expect((await inbox.next()).data.toString()).toBe('echo me');
        ws.close(4000, 'bye');
        await delay(100);
        // The address is read from the socket lazily; a close listener still gets it after the socket is gone.
        expect(closes).toEqual([{ code: 4000, reason: 'bye', wasClean: true, from: '127.0.0.1' }]);
      });

      it('a close hook sees the peer address after the socket is gone, also when the peer vanished', async () => {
        const seen: Array<[number, string | undefined]> = [];
        const s = await serve([{
          path: '/bye',
          handlers: { heartbeat: false, close(ws, event) { seen.push([event.code, ws.request.remoteAddress]); } },
        }]);
        const clean = track(await openWs(s.url('/bye')));
        clean.close(1000);
        const raw = track(await RawClient.connect(s.port));
        raw.write(handshakeRequest('/bye'));
        expect((await readResponse(raw)).status).toBe(101);
        raw.destroy();
        await vi.waitFor(() => expect(seen).toHaveLength(2));
        expect(seen.sort()).toEqual([[1000, '127.0.0.1'], [1006, '127.0.0.1']]);
      });

      it('ping() resolves with the round-trip time; ping and pong hooks fire', async () => {
        const rtts: number[] = [];
        const events: string[] = [];
        const s = await serve([{
          path: '/ping',
          handlers: {
            heartbeat: false,
            async open(ws) { rtts.push(await ws.ping(), await ws.ping('custom')); ws.send('measured'); },
            ping(_ws, data) { events.push(`ping:${data.toString()}`); },
            pong(_ws, data) { events.push(`pong:${data.length > 0}`); },
          },
        }]);
        const ws = track(await openWs(s.url('/ping')));
        expect((await messages(ws).next()).data.toString()).toBe('measured');
        expect(rtts).toHaveLength(2);
        for (const rtt of rtts) {
          expect(rtt).toBeGreaterThan(0);
          expect(rtt).toBeLessThan(1000);
        }
        ws.ping('from client');
        await delay(100);
        expect(events).toEqual(['pong:true', 'pong:true', 'ping:from client']);
      });

      it('faye style: ping and pong listeners without hooks get the client\'s ping and the pong to ws.ping()', async () => {
        const events: string[] = [];
        const s = await serve([{
          path: '/listen',
          handlers: (ws) => {
            ws.on('ping', (data) => events.push(`ping:${data.toString()}`));
            ws.on('pong', (data) => events.push(`pong:${data.toString()}`));
            ws.on('message', () => { void ws.ping('from server').then(() => ws.send('ponged')); });
          },
        }]);
        const ws = track(await openWs(s.url('/listen')));
        const inbox = messages(ws);
        ws.ping('from client');
        ws.send('go');
        expect((await inbox.next()).data.toString()).toBe('ponged');
        expect(events).toEqual(['ping:from client', 'pong:from server']);
      });

      it('a ping left pending when the client vanishes rejects, but never as an unhandled rejection', async () => {
        const unhandled: unknown[] = [];
        const onUnhandled = (reason: unknown): void => { unhandled.push(reason); };
        process.on('unhandledRejection', onUnhandled);
        let pending: Promise<number> | undefined;
        try {
          const s = await serve([{
            path: '/ping',
            handlers: { heartbeat: false, open(ws) { pending = ws.ping('never answered'); void ws.ping(); } },
          }]);
          const raw = track(await RawClient.connect(s.port));
          raw.write(handshakeRequest('/ping'));
          await raw.until(() => raw.frames().filter((f) => f.opcode === Opcode.PING).length === 2);
          raw.destroy();
          await expect(pending).rejects.toThrow(/closed/);
          await delay(50);
          expect(unhandled).toEqual([]);
        } finally {
          process.off('unhandledRejection', onUnhandled);
        }
      });

      it('maxPayload defaults to 1 MiB: 1 MiB passes, one byte more closes with 1009, and the close handler sees 1009', async () => {
        const closes: CloseEvent[] = [];
        const s = await serve([{ path: '/big', handlers: { heartbeat: false, message(ws, data) { ws.send(String(data.length)); }, close(_ws, event) { closes.push(event); } } }]);
        const ws = track(await openWs(s.url('/big')));
        const inbox = messages(ws);
        ws.send(Buffer.alloc(1024 * 1024));
        expect((await inbox.next()).data.toString()).toBe(String(1024 * 1024));
        const gone = closed(ws);
        ws.send(Buffer.alloc(1024 * 1024 + 1));
        expect((await gone).code).toBe(CloseCode.MESSAGE_TOO_BIG);
        await vi.waitFor(() => expect(closes).toEqual([{ code: CloseCode.MESSAGE_TOO_BIG, reason: '', wasClean: false }]));
      });

      it('with compression, maxPayload counts the inflated message: incompressible data at the limit passes', async () => {
        const closes: number[] = [];
        const s = await serve([{ path: '/z', handlers: { heartbeat: false, compression: true, maxPayload: 64 * 1024, message(ws, data) { ws.send(String(data.length)); }, close(_ws, { code }) { closes.push(code); } } }]);
        const ws = track(await openWs(s.url('/z'), undefined, { perMessageDeflate: { threshold: 0 } }));
        expect(ws.extensions).toContain('permessage-deflate');
        const inbox = messages(ws);
        ws.send(randomBytes(64 * 1024));
        expect((await inbox.next()).data.toString()).toBe(String(64 * 1024));
        ws.send('a'.repeat(64 * 1024));
        expect((await inbox.next()).data.toString()).toBe(String(64 * 1024));
        const gone = closed(ws);
        ws.send('a'.repeat(64 * 1024 + 1));
        expect((await gone).code).toBe(CloseCode.MESSAGE_TOO_BIG);
        await vi.waitFor(() => expect(closes).toEqual([CloseCode.MESSAGE_TOO_BIG]));
      });

      it('send() returns false past the high-water mark, then drain; a slow consumer over maxBufferedAmount gets 1008', async () => {
        const results: Record<string, unknown> = {};
        let drained!: () => void;
        const drainSeen = new Promise<void>((resolve) => { drained = resolve; });
        const s = await serve([{
          path: '/flood',
          handlers: {
            heartbeat: false,
            highWaterMark: 64 * 1024,
            maxBufferedAmount: 4 * 1024 * 1024,
            message(ws, data) {
              const chunk = Buffer.alloc(256 * 1024, 0x61);
              if (data === 'fill') {
                // A reader that is not reading: keep sending until send() says stop.
                let sent = 0;
                while (ws.send(chunk) && sent < 400) sent++;
                results.stoppedAfter = sent;
                results.buffered = ws.bufferedAmount;
                results.stateAfterFill = ws.readyState;
              } else {
                for (let i = 0; i < 400 && ws.readyState === 1; i++) ws.send(chunk);
                results.stateAfterFlood = ws.readyState;
                results.sendAfterClose = ws.send('more');
              }
            },
            drain() { drained(); },
          },
        }]);
        const filler = track(await RawClient.connect(s.port));
        filler.write(handshakeRequest('/flood'));
        await filler.response();
        filler.socket.pause();
        filler.write(frame(Opcode.TEXT, 'fill'));
        await vi.waitFor(() => expect(results.stoppedAfter).toBeDefined(), { timeout: 5000 });
        expect(results.stoppedAfter).toBeLessThan(400);
        expect(results.buffered).toBeGreaterThan(64 * 1024);
        expect(results.stateAfterFill).toBe(1);
        filler.socket.resume();
        await drainSeen;

        const slow = track(await RawClient.connect(s.port));
        slow.write(handshakeRequest('/flood'));
        await slow.response();
        slow.socket.pause();
        slow.write(frame(Opcode.TEXT, 'flood'));
        await vi.waitFor(() => expect(results.stateAfterFlood).toBeDefined(), { timeout: 5000 });
        expect(results.stateAfterFlood).toBe(2);
        expect(results.sendAfterClose).toBe(false);
        // When the consumer finally reads, the stream ends with a 1008 close frame.
        slow.socket.resume();
        await slow.until(() => slow.frames().some((f) => f.opcode === Opcode.CLOSE), 10_000);
        expect(closeCodeOf(slow.frames().find((f) => f.opcode === Opcode.CLOSE))).toBe(CloseCode.POLICY_VIOLATION);
      }, 20_000);

      it('interoperates with undici and faye-websocket clients', async () => {
        const s = await serve([{ path: '/echo', handlers: { ...echo, protocols: ['chat'] } }]);
        const undici = new UndiciWebSocket(s.url('/echo'), 'chat');
        undici.binaryType = 'arraybuffer';
        const undiciReply = new Promise<string>((resolve) => { undici.onmessage = (e) => resolve(String(e.data)); });
        await new Promise((resolve) => { undici.onopen = resolve; });
        undici.send('from undici');
        expect(await undiciReply).toBe('from undici');
        undici.close(1000, 'done');

        const faye = new Faye.Client(s.url('/echo'), ['chat'], { ping: 1 });
        const fayeReply = new Promise<string>((resolve) => faye.on('message', (e: { data: string }) => resolve(e.data)));
        await new Promise((resolve) => faye.on('open', resolve));
        expect(faye.protocol).toBe('chat');
        faye.send('from faye');
        expect(await fayeReply).toBe('from faye');
        const fayeClosed = new Promise<number>((resolve) => faye.on('close', (e: { code: number }) => resolve(e.code)));
        faye.close(1000, 'bye');
        expect(await fayeClosed).toBe(1000);
      });
    });
  });
}

export type { Harness } from './harness.js';
