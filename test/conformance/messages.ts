/** Conformance: messages: none lost before open, maxPayload, backpressure, and other clients. */
import { randomBytes } from 'node:crypto';
import { describe, expect, it, vi } from 'vitest';
import { WebSocket as UndiciWebSocket } from 'undici';
import Faye from 'faye-websocket';
import type { CloseEvent } from '@switchyard/core';
import { CloseCode } from '@switchyard/core';
import {
  Opcode,
  RawClient,
  closeCodeOf,
  closed,
  delay,
  frame,
  handshakeRequest,
  messages,
  openWs,
} from '../helpers.js';
import type { Conformance } from './context.js';
import { echo } from './context.js';

export function describeMessages({ serve, track }: Conformance): void {
  describe('8. no early message is lost', () => {
    it('frames in the same TCP write as the handshake arrive, in order', async () => {
      const s = await serve([
        { path: '/echo', handlers: echo },
        {
          path: '/guarded',
          handlers: echo,
          guard: async () => {
            await delay(30);
            return undefined;
          },
        },
      ]);
      await fetch(`http://127.0.0.1:${s.port}/`).catch(() => undefined);
      for (const path of ['/echo', '/echo', '/guarded']) {
        const raw = track(await RawClient.connect(s.port));
        raw.write(
          Buffer.concat([
            Buffer.from(handshakeRequest(path)),
            frame(Opcode.TEXT, 'one'),
            frame(Opcode.TEXT, 'two'),
            frame(Opcode.BINARY, Buffer.from([3])),
          ]),
        );
        expect((await raw.response()).status).toBe(101);
        await raw.until(() => raw.frames().length >= 3);
        expect(raw.frames().map((f) => [f.opcode, f.payload.toString('hex')])).toEqual([
          [Opcode.TEXT, Buffer.from('one').toString('hex')],
          [Opcode.TEXT, Buffer.from('two').toString('hex')],
          [Opcode.BINARY, '03'],
        ]);
      }
    });

    it('the very first request of a server, with frames in the same write, loses nothing', async () => {
      const s = await serve([{ path: '/echo', handlers: echo }]);
      const raw = track(await RawClient.connect(s.port));
      raw.write(
        Buffer.concat([
          Buffer.from(handshakeRequest('/echo')),
          frame(Opcode.TEXT, 'first'),
          frame(Opcode.TEXT, 'second'),
        ]),
      );
      await raw.until(() => raw.frames().length >= 2);
      expect(raw.frames().map((f) => f.payload.toString())).toEqual(['first', 'second']);
    });

    it('frames sent while an async upgrade hook and an async open handler run arrive in order', async () => {
      const received: string[] = [];
      const s = await serve([
        {
          path: '/slow',
          handlers: {
            heartbeat: false,
            async upgrade() {
              await delay(100);
              return { context: { n: 1 } };
            },
            async open(ws) {
              await delay(100);
              ws.send('opened');
            },
            message(ws, data) {
              received.push(String(data));
              ws.send(data);
            },
          },
        },
      ]);
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

  describe('connection API', () => {
    it('maxPayload defaults to 1 MiB: 1 MiB passes, one byte more closes with 1009, and the close handler sees 1009', async () => {
      const closes: CloseEvent[] = [];
      const s = await serve([
        {
          path: '/big',
          handlers: {
            heartbeat: false,
            message(ws, data) {
              ws.send(String(data.length));
            },
            close(_ws, event) {
              closes.push(event);
            },
          },
        },
      ]);
      const ws = track(await openWs(s.url('/big')));
      const inbox = messages(ws);
      ws.send(Buffer.alloc(1024 * 1024));
      expect((await inbox.next()).data.toString()).toBe(String(1024 * 1024));
      const gone = closed(ws);
      ws.send(Buffer.alloc(1024 * 1024 + 1));
      expect((await gone).code).toBe(CloseCode.MESSAGE_TOO_BIG);
      await vi.waitFor(() =>
        expect(closes).toEqual([{ code: CloseCode.MESSAGE_TOO_BIG, reason: '', wasClean: false }]),
      );
    });

    it('with compression, maxPayload counts the inflated message: incompressible data at the limit passes', async () => {
      const closes: number[] = [];
      const s = await serve([
        {
          path: '/z',
          handlers: {
            heartbeat: false,
            compression: true,
            maxPayload: 64 * 1024,
            message(ws, data) {
              ws.send(String(data.length));
            },
            close(_ws, { code }) {
              closes.push(code);
            },
          },
        },
      ]);
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
      const drainSeen = new Promise<void>((resolve) => {
        drained = resolve;
      });
      const s = await serve([
        {
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
            drain() {
              drained();
            },
          },
        },
      ]);
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
      const undiciReply = new Promise<string>((resolve) => {
        undici.onmessage = (e) => resolve(String(e.data));
      });
      await new Promise((resolve) => {
        undici.onopen = resolve;
      });
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
}
