/**
 * Messages and control frames on every adapter: JSON that nests too deep for a `schema`
 * endpoint (`maxDepth`), and floods of pings, pongs and fragments from a raw TCP client
 * (`controlRate`, and ws's own limits as docs/security.md states them). Generated with fast-check
 * (shrinking); after every case the answer is the one the docs promise, a proper close code and
 * never a dropped connection, and a valid client is still served. Timing and memory bounds are in
 * bounds.ts, which runs alone.
 */
import diagnosticsChannel from 'node:diagnostics_channel';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import type { Connection, Handlers, LimitMessage } from '@switchyard/core';
import { CHANNELS, CloseCode, ErrorCode } from '@switchyard/core';
import type { Harness, Started } from '../harness.js';
import { start } from '../harness.js';
import { Opcode, closeCodeOf, closed, messages, openWs, quietFor, requireAssertions } from '../helpers.js';
import type { RawClient } from '../helpers.js';
import {
  controlFramesOf,
  depthOf,
  flood,
  floodBytes,
  pingsOf,
  shape,
  shapeText,
  trickyString,
  upgraded,
  zeroMasked,
} from './frames.js';

const SEED = Number(process.env.SWITCHYARD_FUZZ_SEED ?? 20261130);
/** Cases per property: the numbers below, or SWITCHYARD_FUZZ_RUNS for a long local run. */
const runs = (fallback: number): number => Number(process.env.SWITCHYARD_FUZZ_RUNS ?? fallback);

/** Any JSON value, by a recursive schema: the kind that overflowed the stack on deep input. */
const Json: z.ZodType<unknown> = z.lazy(() =>
  z.union([z.string(), z.number(), z.boolean(), z.null(), z.array(Json), z.record(z.string(), Json)]),
);

/** The close code a raw client saw, or undefined when the connection ended without one. */
function closeCodeSeen(client: RawClient): number | undefined {
  return closeCodeOf(client.frames().find((f) => f.opcode === Opcode.CLOSE));
}

/** The TCP connections a server holds. */
function connectionsOf(s: Started): Promise<number> {
  return new Promise((resolve, reject) => s.server.getConnections((error, n) => (error ? reject(error) : resolve(n))));
}

export function runMessages(harness: Harness): void {
  describe(`${harness.name}: messages and control frames`, () => {
    requireAssertions();
    let s: Started;
    const errors: Error[] = [];
    beforeAll(async () => {
      const recordError = (_ws: unknown, error: Error): void => {
        errors.push(error);
      };
      s = await start(harness, [
        {
          path: '/json',
          handlers: {
            heartbeat: false,
            maxPayload: 4 * 1024 * 1024,
            schema: Json,
            message(ws) {
              ws.send('ok');
            },
            error: recordError,
          } satisfies Handlers<undefined, typeof Json>,
        },
        {
          path: '/json-shallow',
          handlers: {
            heartbeat: false,
            schema: Json,
            maxDepth: 4,
            message(ws) {
              ws.send('ok');
            },
            // An app that forgives invalid messages still gets 1007 for one nested too deep.
            invalid() {},
            error: recordError,
          } satisfies Handlers<undefined, typeof Json>,
        },
        {
          path: '/frames',
          handlers: {
            heartbeat: false,
            message(ws, data) {
              ws.send(data);
            },
          } satisfies Handlers<undefined>,
        },
        {
          path: '/frames-off',
          handlers: {
            heartbeat: false,
            controlRate: false,
            message(ws, data) {
              ws.send(data);
            },
          } satisfies Handlers<undefined>,
        },
        {
          path: '/heartbeat',
          handlers: { heartbeat: { interval: 5, timeout: 5000 }, controlRate: { frames: 1, burst: 2 } },
        },
      ]);
    });
    afterAll(async () => {
      await s.close();
    });

    /** A valid client still gets its echo: the server lives and serves. */
    async function stillServes(): Promise<void> {
      const ws = await openWs(s.url('/frames'));
      const inbox = messages(ws);
      ws.send('alive?');
      expect((await inbox.next(5000)).data.toString()).toBe('alive?');
      ws.close();
      await closed(ws);
    }

    it('1 MiB of [[[[ closes with 1007 and SWITCHYARD_ERR_JSON_TOO_DEEP, before JSON.parse; the recursive schema never overflows', async () => {
      errors.length = 0;
      const logged = vi.spyOn(console, 'error');
      const ws = await openWs(s.url('/json'));
      const end = closed(ws);
      ws.send('['.repeat(1024 * 1024));
      expect(await end).toEqual({ code: CloseCode.INVALID_PAYLOAD, reason: 'JSON nested deeper than 64' });
      await vi.waitFor(() =>
        expect(errors.map((e) => (e as Error & { code?: string }).code)).toContain(ErrorCode.JSON_TOO_DEEP),
      );
      expect(errors.every((e) => !/call stack/i.test(e.message))).toBe(true);
      expect(logged).not.toHaveBeenCalled();
      logged.mockRestore();
    });

    it('maxDepth: 64 levels pass, 65 close with 1007 on the limit channel; with an invalid hook too', async () => {
      const limits: LimitMessage[] = [];
      const onLimit = (message: unknown): void => {
        limits.push(message as LimitMessage);
      };
      diagnosticsChannel.subscribe(CHANNELS.limit, onLimit);
      try {
        const ok = await openWs(s.url('/json'));
        const inbox = messages(ok);
        ok.send(`${'['.repeat(64)}${']'.repeat(64)}`);
        expect((await inbox.next()).data.toString()).toBe('ok');
        // Brackets inside strings do not count.
        ok.send(JSON.stringify({ text: '[[[[{{{{'.repeat(100), escaped: '\\"[[[[\\' }));
        expect((await inbox.next()).data.toString()).toBe('ok');
        const end = closed(ok);
        ok.send(`${'['.repeat(65)}${']'.repeat(65)}`);
        expect((await end).code).toBe(CloseCode.INVALID_PAYLOAD);

        const shallow = await openWs(s.url('/json-shallow'));
        const shallowEnd = closed(shallow);
        shallow.send('{"a":{"b":{"c":{"d":{}}}}}');
        expect(await shallowEnd).toEqual({ code: CloseCode.INVALID_PAYLOAD, reason: 'JSON nested deeper than 4' });
        await vi.waitFor(() => expect(limits.filter((l) => l.limit === 'maxDepth')).toHaveLength(2));
        expect(limits.find((l) => l.limit === 'maxDepth')).toMatchObject({ action: 'closed', code: 1007 });
      } finally {
        diagnosticsChannel.unsubscribe(CHANNELS.limit, onLimit);
      }
    });

    // 30 generated shapes per adapter: about 2 s here.
    it('generated JSON shapes (depth, width, escapes, brackets in strings): an answer or 1007, as deep as JSON.parse says', async () => {
      await fc.assert(
        fc.asyncProperty(shape, fc.integer({ min: 0, max: 3 }), async (generated, cut) => {
          const text = shapeText(generated);
          // Some texts are cut short: not JSON any more, however deep.
          const sent = cut === 0 ? text.slice(0, Math.max(1, text.length - 2)) : text;
          let parsed: { depth: number } | undefined;
          try {
            parsed = { depth: depthOf(JSON.parse(sent)) };
          } catch {
            parsed = undefined;
          }
          const ws = await openWs(s.url('/json'));
          const inbox = messages(ws);
          const end = closed(ws);
          ws.send(sent);
          const outcome = await Promise.race([inbox.next(5000).then(() => 'ok' as const), end]);
          ws.terminate();
          if (parsed === undefined) {
            expect(outcome).toMatchObject({ code: CloseCode.INVALID_PAYLOAD });
          } else if (parsed.depth > 64) {
            expect(outcome).toEqual({ code: CloseCode.INVALID_PAYLOAD, reason: 'JSON nested deeper than 64' });
          } else {
            expect(outcome).toBe('ok');
          }
        }),
        { numRuns: runs(30), seed: SEED },
      );
      await stillServes();
    }, 20_000);

    it('a string of brackets as long as maxPayload allows is one string, not nesting', async () => {
      const ws = await openWs(s.url('/json'));
      const inbox = messages(ws);
      await fc.assert(
        fc.asyncProperty(trickyString, fc.integer({ min: 1, max: 2000 }), async (piece, times) => {
          ws.send(JSON.stringify(piece.repeat(times)));
          expect((await inbox.next(5000)).data.toString()).toBe('ok');
        }),
        { numRuns: runs(30), seed: SEED },
      );
      ws.close();
      await closed(ws);
    }, 20_000);

    it('controlRate: a burst of pings past 50 closes with 1008 before ws drops the connection at 60', async () => {
      const client = await upgraded(s.port, '/frames');
      client.write(Buffer.concat(Array.from({ length: 200 }, () => zeroMasked(Opcode.PING, Buffer.from('p')))));
      await client.waitClosed(5000);
      expect(closeCodeSeen(client)).toBe(CloseCode.POLICY_VIOLATION);
      const pongs = client.frames().filter((f) => f.opcode === Opcode.PONG).length;
      expect(pongs).toBeGreaterThanOrEqual(50);
      expect(pongs).toBeLessThan(60);
    });

    it('controlRate: pings within the budget are all answered; unsolicited pongs count, the heartbeat’s do not', async () => {
      const client = await upgraded(s.port, '/frames');
      client.write(Buffer.concat(Array.from({ length: 40 }, () => zeroMasked(Opcode.PING, Buffer.from('p')))));
      await client.until(() => client.frames().filter((f) => f.opcode === Opcode.PONG).length === 40);
      client.write(Buffer.concat(Array.from({ length: 40 }, () => zeroMasked(Opcode.PONG, Buffer.from('u')))));
      await client.waitClosed(5000);
      expect(closeCodeSeen(client)).toBe(CloseCode.POLICY_VIOLATION);

      // A heartbeat every 5 ms under a budget of 1 a second: its pongs are never counted.
      const beating = await openWs(s.url('/heartbeat'));
      let pings = 0;
      beating.on('ping', () => pings++);
      await vi.waitFor(() => expect(pings).toBeGreaterThan(20), { timeout: 5000 });
      expect(beating.readyState).toBe(beating.OPEN);
      beating.close();
      await closed(beating);
    });

    it('controlRate: false leaves ws’s own limit: more than 60 pending pongs drop the connection without a close frame', async () => {
      const client = await upgraded(s.port, '/frames-off');
      client.write(Buffer.concat(Array.from({ length: 200 }, () => zeroMasked(Opcode.PING, Buffer.from('p')))));
      await client.waitClosed(5000);
      expect(closeCodeSeen(client)).toBeUndefined();
      expect(client.frames().some((f) => f.opcode === Opcode.CLOSE)).toBe(false);
    });

    it('ws’s 16,384 fragments per message: one more closes with 1008', async () => {
      const client = await upgraded(s.port, '/frames');
      client.write(floodBytes({ kind: 'fragments', count: 16_384, pingsInside: 0 }));
      await client.waitClosed(5000);
      expect(closeCodeSeen(client)).toBe(CloseCode.POLICY_VIOLATION);
      const within = await upgraded(s.port, '/frames');
      within.write(floodBytes({ kind: 'fragments', count: 16_383, pingsInside: 0 }));
      await within.until(() => within.frames().some((f) => f.opcode === Opcode.TEXT), 5000);
      expect(within.frames().find((f) => f.opcode === Opcode.TEXT)!.payload.length).toBe(16_384);
      within.destroy();
    });

    // 25 generated floods per adapter: about 3 s here.
    it('generated ping, pong and fragment floods: pongs within the budget, a 1008 past it, never a silent drop', async () => {
      await fc.assert(
        fc.asyncProperty(flood, async (f) => {
          const client = await upgraded(s.port, '/frames');
          try {
            client.write(floodBytes(f));
            const control = controlFramesOf(f);
            const overFragments = f.kind === 'fragments' && f.count + 1 > 16_384;
            // Refills while the bytes arrive may admit a few past the burst; past 60 none can.
            if (control > 60 || overFragments) {
              await client.waitClosed(5000);
              expect(closeCodeSeen(client)).toBe(CloseCode.POLICY_VIOLATION);
            } else if (control <= 50) {
              const pings = pingsOf(f);
              const echoed = f.kind === 'fragments' ? 1 : 0;
              await client.until(
                () =>
                  client.frames().filter((fr) => fr.opcode === Opcode.PONG).length === pings &&
                  client.frames().filter((fr) => fr.opcode === Opcode.TEXT).length === echoed,
                5000,
              );
              await quietFor(20);
              expect(client.closed).toBe(false);
              expect(closeCodeSeen(client)).toBeUndefined();
            } else {
              // Between the burst and 60: still open, or closed with 1008, never dropped silently.
              await quietFor(50);
              if (client.closed) expect(closeCodeSeen(client)).toBe(CloseCode.POLICY_VIOLATION);
              else expect([undefined, CloseCode.POLICY_VIOLATION]).toContain(closeCodeSeen(client));
            }
          } finally {
            client.destroy();
          }
        }),
        { numRuns: runs(25), seed: SEED },
      );
      await stillServes();
      // Nothing is left of the floods: every raw connection is gone on the server too.
      await vi.waitFor(async () => expect(await connectionsOf(s)).toBe(0));
    }, 20_000);

    it('a control-rate close is the server’s: closedBy server, and the close hook sees 1008', async () => {
      const closes: Array<{ code: number; closedBy: string; path: string }> = [];
      const onClose = (message: unknown): void => {
        const m = message as { code: number; closedBy: string; connection: Connection };
        closes.push({ code: m.code, closedBy: m.closedBy, path: m.connection.request.path });
      };
      diagnosticsChannel.subscribe(CHANNELS.close, onClose);
      try {
        const client = await upgraded(s.port, '/frames');
        client.write(Buffer.concat(Array.from({ length: 80 }, () => zeroMasked(Opcode.PONG, Buffer.alloc(0)))));
        await client.waitClosed(5000);
        await vi.waitFor(() => expect(closes).toContainEqual({ code: 1008, closedBy: 'server', path: '/frames' }));
      } finally {
        diagnosticsChannel.unsubscribe(CHANNELS.close, onClose);
      }
    });
  });
}
