/**
 * Timing and memory bounds of hostile messages on every adapter, run alone (`*.serial.test.ts`):
 * the event loop's longest block per message for generated JSON shapes stays within a small
 * multiple of flat JSON of the same size, 1 MiB of `[[[[` costs no more than flat JSON does, and
 * memory after GC is bounded after floods of deep messages and control frames. The bounds are
 * generous (a shared, busy machine); bench/json-depth.mjs prints the figures.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { Handlers } from '@switchyard/core';
import type { Harness, Started } from '../harness.js';
import { start } from '../harness.js';
import { Opcode, requireAssertions } from '../helpers.js';
import type { RawClient } from '../helpers.js';
import { shape, shapeText, upgraded, zeroMasked } from './frames.js';

const SEED = Number(process.env.SWITCHYARD_FUZZ_SEED ?? 20261130);
const SIZE = 256 * 1024;

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/**
 * A schema that only parses: what is measured is switchyard's share (the scan and JSON.parse).
 * A validator that walks every value adds its own cost per value, whatever the nesting.
 */
const Any = z.unknown();

/** JSON text of about `size` bytes: `item` repeated inside one top-level array. */
function fill(size: number, item: string): string {
  const count = Math.max(1, Math.floor((size - 2) / (item.length + 1)));
  return `[${Array.from({ length: count }, () => item).join(',')}]`;
}

/** Sends one message and waits for its answer (a text frame) or a close frame. */
async function answer(client: RawClient, text: string): Promise<'ok' | number> {
  const before = client.frames().length;
  client.write(zeroMasked(Opcode.TEXT, Buffer.from(text)));
  await client.until(() => client.frames().length > before || client.closed, 10_000);
  const reply = client.frames()[before];
  return reply?.opcode === Opcode.TEXT ? 'ok' : (reply?.payload.readUInt16BE(0) ?? 1006);
}

/** The longest event-loop block (ms) while `text` is answered, on a fresh connection. */
async function blockOf(s: Started, text: string): Promise<number> {
  const client = await upgraded(s.port, '/json');
  const histogram = monitorEventLoopDelay({ resolution: 1 });
  histogram.enable();
  try {
    await answer(client, text);
  } finally {
    histogram.disable();
    client.destroy();
  }
  return histogram.max / 1e6;
}

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

export function runMessageBounds(harness: Harness): void {
  describe(`${harness.name}: messages and control frames, timing and memory`, () => {
    requireAssertions();
    let s: Started;
    beforeAll(async () => {
      s = await start(harness, [
        {
          path: '/json',
          handlers: {
            heartbeat: false,
            maxPayload: 2 * 1024 * 1024,
            schema: Any,
            message(ws) {
              ws.send('ok');
            },
            error() {},
          } satisfies Handlers<undefined, typeof Any>,
        },
        { path: '/frames', handlers: { heartbeat: false } },
      ]);
    });
    afterAll(async () => {
      await s.close();
    });

    it('1 MiB of [[[[ blocks the event loop no longer than 1 MiB of flat JSON', async () => {
      const flat = fill(1024 * 1024, '12345');
      const deep = '['.repeat(1024 * 1024);
      await blockOf(s, flat); // warm
      const flatBlocks: number[] = [];
      const deepBlocks: number[] = [];
      for (let round = 0; round < 3; round++) {
        flatBlocks.push(await blockOf(s, flat));
        deepBlocks.push(await blockOf(s, deep));
      }
      // Before the scan: 270-460 ms against ~30 ms flat (issue 23).
      expect(median(deepBlocks)).toBeLessThanOrEqual(2 * median(flatBlocks) + 20);
    });

    // 10 generated shapes of 256 KiB per adapter, each timed 3 times: about 3 s here.
    it('generated shapes of 256 KiB block the event loop within a small multiple of flat JSON', async () => {
      const flat = fill(SIZE, '12345');
      await blockOf(s, flat);
      const flatBlock = median([await blockOf(s, flat), await blockOf(s, flat), await blockOf(s, flat)]);
      await fc.assert(
        fc.asyncProperty(shape, async (generated) => {
          const text = fill(SIZE, shapeText(generated));
          const block = median([await blockOf(s, text), await blockOf(s, text), await blockOf(s, text)]);
          expect(block).toBeLessThanOrEqual(8 * flatBlock + 40);
        }),
        { numRuns: 10, seed: SEED },
      );
    }, 20_000);

    it('memory after GC is bounded after floods of deep messages and control frames', async () => {
      const deep = fill(SIZE, `${'['.repeat(63)}0${']'.repeat(63)}`);
      const refused = '['.repeat(1024 * 1024);
      const pings = Buffer.concat(Array.from({ length: 200 }, () => zeroMasked(Opcode.PING, Buffer.alloc(125))));
      const round = async (): Promise<void> => {
        const kept = await upgraded(s.port, '/json');
        for (let i = 0; i < 5; i++) expect(await answer(kept, deep)).toBe('ok');
        kept.destroy();
        for (let i = 0; i < 5; i++) {
          const client = await upgraded(s.port, '/json');
          expect(await answer(client, refused)).toBe(1007);
          client.destroy();
          const flooder = await upgraded(s.port, '/frames');
          flooder.write(pings);
          await flooder.waitClosed(5000);
        }
      };
      await round();
      gc();
      const before = process.memoryUsage().heapUsed;
      for (let i = 0; i < 3; i++) await round();
      await new Promise((resolve) => setTimeout(resolve, 50));
      gc();
      const grown = process.memoryUsage().heapUsed - before;
      expect(grown).toBeLessThan(8 * 1024 * 1024);
    }, 20_000);
  });
}
