/** Conformance: middleware runs before the 101, nothing reaches the socket after it, and pipelined requests behind an upgrade. */
import type http from 'node:http';
import { describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import type { Connection } from '@switchyard/core';
import { CloseCode } from '@switchyard/core';
import {
  Opcode,
  RawClient,
  captureWarnings,
  closeCodeOf,
  closed,
  delay,
  frame,
  handshakeRequest,
  messages,
  openWs,
  parseFrames,
  quietFor,
  readResponse,
} from '../helpers.js';
import type { Conformance } from './context.js';
import { echo } from './context.js';

export function describeMiddleware({ serve, track }: Conformance): void {
  describe('2. middleware runs before the 101', () => {
    for (const status of [401, 403, 429]) {
      it(`a ${status} from middleware goes out as HTTP with its headers and body, and no 101`, async () => {
        const headers: Record<string, string> =
          status === 401
            ? { 'WWW-Authenticate': 'Bearer realm="chat"' }
            : status === 429
              ? { 'Retry-After': '7' }
              : { 'X-Reason': 'banned' };
        const s = await serve([
          {
            path: '/private',
            handlers: echo,
            guard: (req) =>
              req.headers.authorization === 'Bearer ok' ? undefined : { status, headers, body: `denied ${status}` },
          },
        ]);
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
        const seen = await new Promise<number>((resolve) =>
          rejected.once('unexpected-response', (_req, res) => resolve(res.statusCode!)),
        );
        expect(seen).toBe(status);
        rejected.terminate();
        const ok = track(await openWs(s.url('/private'), undefined, { headers: { authorization: 'Bearer ok' } }));
        ok.send('let in');
        expect((await messages(ok).next()).data.toString()).toBe('let in');
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
      const s = await serve([
        {
          path: '/slow',
          handlers: echo,
          guard: async () => {
            await delay(50);
            return undefined;
          },
        },
      ]);
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
        [
          { path: '/echo', handlers: echo },
          {
            path: '/async',
            handlers: echo,
            guard: async () => {
              await delay(20);
              return undefined;
            },
          },
        ],
        {
          server: {
            requestTimeout: 1000,
            headersTimeout: 1000,
            keepAliveTimeout: 1000,
            connectionsCheckingInterval: 100,
          } as http.ServerOptions,
        },
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
      // Past requestTimeout (1 s) and the 5 s that Node's 408 waits at most: no 408, no close.
      await quietFor(5200);
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
          // Past the late write at 100 ms: none of it may reach the sockets.
          await quietFor(300);
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

  describe('2b. a handshake answered by something in front of the endpoint', () => {
    // The route-order mistake of issue 26: a page route before the websocket route on the same path.
    for (const status of [200, 302]) {
      it(`a ${status} from a route in front of the endpoint warns once per server (SWITCHYARD_HANDSHAKE_ANSWERED), naming the path`, async () => {
        const capture = captureWarnings('SWITCHYARD_HANDSHAKE_ANSWERED');
        try {
          const s = await serve([
            {
              path: '/rooms/:room',
              handlers: echo,
              guard: () => ({
                status,
                headers: status === 302 ? { Location: '/elsewhere' } : ({} as Record<string, string>),
                body: 'a page',
              }),
            },
          ]);
          // The internal route (the first handshake) and the server's 'upgrade' route (the next ones).
          for (const room of ['a', 'b', 'c']) {
            const raw = track(await RawClient.connect(s.port));
            raw.write(handshakeRequest(`/rooms/${room}?token=secret`));
            expect((await readResponse(raw)).status).toBe(status);
          }
          await vi.waitFor(() => expect(capture.warnings).toHaveLength(1));
          await quietFor(100);
          expect(capture.warnings).toHaveLength(1);
          expect(capture.warnings[0]!.message).toContain('/rooms/a');
          expect(capture.warnings[0]!.message).toContain(String(status));
          expect(capture.warnings[0]!.message).not.toContain('token');
        } finally {
          capture.stop();
        }
      });
    }

    it("a 401 from middleware, switchyard's own refusals and a plain page do not warn", async () => {
      const capture = captureWarnings('SWITCHYARD_HANDSHAKE_ANSWERED');
      try {
        const s = await serve([
          {
            path: '/private',
            handlers: echo,
            guard: (req) => (req.url.includes('ok') ? undefined : { status: 401, body: 'sign in first' }),
          },
          { path: '/echo', handlers: echo, page: 'a page for plain GETs' },
        ]);
        for (const [path, headers, expected] of [
          ['/private', {}, 401],
          ['/private?ok', { 'Sec-WebSocket-Version': '8' }, 426],
          ['/echo', { 'Sec-WebSocket-Key': 'short' }, 400],
          ['/echo', {}, 101],
        ] as const) {
          const raw = track(await RawClient.connect(s.port));
          raw.write(handshakeRequest(path, headers));
          expect((await readResponse(raw)).status).toBe(expected);
        }
        const page = await fetch(`http://127.0.0.1:${s.port}/echo`);
        expect(page.status).toBe(200);
        await page.text();
        await quietFor(100);
        expect(capture.warnings).toEqual([]);
      } finally {
        capture.stop();
      }
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
      const s = await serve([
        {
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
            error(_ws, error) {
              errors.push(error.message);
            },
          },
        },
      ]);
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
      const s = await serve([
        {
          path: '/faye',
          handlers: (ws: Connection) => {
            ws.on('error', () => {
              throw new Error('error listener boom');
            });
          },
        },
      ]);
      const raw = track(await RawClient.connect(s.port));
      raw.write(handshakeRequest('/faye'));
      await raw.response();
      raw.write(frame(7, 'reserved opcode'));
      await raw.until(() => raw.frames().some((f) => f.opcode === Opcode.CLOSE));
      expect(closeCodeOf(raw.frames().find((f) => f.opcode === Opcode.CLOSE))).toBe(CloseCode.PROTOCOL_ERROR);
      await vi.waitFor(() => expect(String(log.mock.calls.flat().join(' '))).toContain('error listener boom'));
    });
  });
}
