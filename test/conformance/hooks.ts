/** Conformance: handler errors and the error policy; the heartbeat. */
import { describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import { CloseCode, reject } from '@switchyard/core';
import {
  Opcode,
  RawClient,
  closeCodeOf,
  closed,
  frame,
  handshakeRequest,
  messages,
  openWs,
  quietFor,
  readResponse,
} from '../helpers.js';
import type { Conformance } from './context.js';
import { echo } from './context.js';

export function describeHooks({ serve, track }: Conformance): void {
  describe('11. handler errors', () => {
    it('a throwing handler closes only its own connection with 1011, and the error hook gets it', async () => {
      const errors: Array<[string | undefined, string]> = [];
      const s = await serve([
        {
          path: '/fragile',
          handlers: {
            heartbeat: false,
            message(ws, data) {
              if (data === 'throw') throw new Error('sync boom');
              if (data === 'reject') return Promise.reject(new Error('async boom'));
              ws.send(data);
              return undefined;
            },
            error(ws, error) {
              errors.push([ws?.request.path, error.message]);
            },
          },
        },
      ]);
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
      expect(errors).toEqual(
        expect.arrayContaining([
          ['/fragile', 'sync boom'],
          ['/fragile', 'async boom'],
        ]),
      );
      expect(errors).toHaveLength(2);
    });

    it('without an error hook, each error is logged once and the process survives', async () => {
      const log = vi.spyOn(console, 'error').mockImplementation(() => {});
      const s = await serve([
        {
          path: '/fragile',
          handlers: {
            heartbeat: false,
            open() {
              throw new Error('open boom');
            },
          },
        },
      ]);
      const ws = track(await openWs(s.url('/fragile')));
      expect((await closed(ws)).code).toBe(CloseCode.INTERNAL_ERROR);
      expect(log).toHaveBeenCalledTimes(1);
      expect(String(log.mock.calls[0]!.join(' '))).toContain('open boom');
    });

    it('a throwing upgrade hook answers 500 and a reject() answers its status', async () => {
      vi.spyOn(console, 'error').mockImplementation(() => {});
      const s = await serve([
        {
          path: '/hook',
          handlers: {
            ...echo,
            upgrade(req) {
              if (req.query.mode === 'reject') throw reject(401, 'Unauthorized', { 'WWW-Authenticate': 'Bearer' });
              if (req.query.mode === 'return') return reject(403, 'Forbidden here');
              if (req.query.mode === 'json')
                throw reject(422, '{"error":"no room"}', { 'content-type': 'application/json', 'X-Why': 'room' });
              if (req.query.mode === 'badtype') throw reject(422, '{}', { 'Content-Type': 'text/x\r\nX-Evil: 1' });
              throw new Error('hook bug');
            },
          },
        },
      ]);
      const answers: Array<[number, string | undefined, string]> = [];
      for (const mode of ['reject', 'return', 'crash']) {
        const raw = track(await RawClient.connect(s.port));
        raw.write(handshakeRequest(`/hook?mode=${mode}`));
        const response = await readResponse(raw);
        answers.push([response.status, response.headers['www-authenticate'], response.body.trim()]);
      }
      expect(answers).toEqual([
        [401, 'Bearer', 'Unauthorized'],
        [403, undefined, 'Forbidden here'],
        [500, undefined, 'Internal Server Error'],
      ]);
      // A Content-Type of the hook's own replaces the text type, and the body goes out as given.
      const typed: Array<[number, string | undefined, string | undefined, string]> = [];
      for (const mode of ['reject', 'json', 'badtype']) {
        const raw = track(await RawClient.connect(s.port));
        raw.write(handshakeRequest(`/hook?mode=${mode}`));
        const response = await readResponse(raw);
        typed.push([response.status, response.headers['content-type'], response.headers['x-why'], response.body]);
        expect(response.headers['x-evil']).toBeUndefined();
      }
      expect(typed).toEqual([
        [401, 'text/plain; charset=utf-8', undefined, 'Unauthorized\n'],
        [422, 'application/json', 'room', '{"error":"no room"}'],
        [
          500,
          'text/plain; charset=utf-8',
          undefined,
          'Internal Server Error: the upgrade hook rejected with an invalid header\n',
        ],
      ]);
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

  describe('12. heartbeat', () => {
    it('can be turned off', async () => {
      const s = await serve([{ path: '/nohb', handlers: { heartbeat: false } }]);
      const raw = track(await RawClient.connect(s.port));
      raw.write(handshakeRequest('/nohb'));
      await raw.response();
      // No ping and no close may come.
      await quietFor(300);
      expect(raw.frames()).toEqual([]);
      expect(raw.closed).toBe(false);
    });
  });
}

/**
 * The heartbeat's timing: a peer that ignores pings is gone within interval + timeout. An upper
 * bound on time, so it runs from `*.serial.test.ts` files, alone on the machine (vitest.config.ts).
 */
export function describeHeartbeatTiming({ serve, track }: Conformance): void {
  describe('12. heartbeat, timing', () => {
    it('terminates a peer that ignores pings within interval + timeout; its close handler sees 1006', async () => {
      const closes: number[] = [];
      const s = await serve([
        {
          path: '/hb',
          handlers: {
            heartbeat: { interval: 200, timeout: 200 },
            close(_ws, { code }) {
              closes.push(code);
            },
          },
        },
      ]);
      const raw = track(await RawClient.connect(s.port));
      raw.write(handshakeRequest('/hb'));
      await raw.response();
      const opened = Date.now();
      const alive = track(await openWs(s.url('/hb')));
      await raw.waitClosed(2000);
      const elapsed = Date.now() - opened;
      expect(raw.frames().some((f) => f.opcode === Opcode.PING)).toBe(true);
      expect(elapsed).toBeLessThanOrEqual(200 + 200 + 250);
      await vi.waitFor(() => expect(closes).toEqual([CloseCode.ABNORMAL]));
      // The peer that answers pings outlives several intervals.
      await quietFor(600);
      expect(alive.readyState).toBe(WebSocket.OPEN);
      expect(closes).toEqual([CloseCode.ABNORMAL]);
    });
  });
}
