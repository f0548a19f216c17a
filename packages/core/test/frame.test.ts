// The frame a hub builds once for all its subscribers (src/internals/ws.ts): ws's undeclared
// `Sender.frame` when the load-time check finds it, and the public fallback (RFC 6455 §5.2)
// when it does not, which must produce the same bytes and be read back by ws as the message.
import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import * as ws from 'ws';
import { frameHeader, frameMessage, wsFramer } from '../src/internals/ws.js';

afterEach(() => {
  vi.doUnmock('ws');
  vi.resetModules();
});

/** What ws's own client-side parser reads from `bytes`: each message as [text or bytes, isBinary]. */
function parse(bytes: Buffer): Array<[string | Buffer, boolean]> {
  // ws exports its parser at run time (`Receiver`); @types/ws leaves it out.
  const { Receiver } = ws as unknown as {
    Receiver: new (options: { isServer: boolean; maxPayload: number }) => import('node:stream').Writable;
  };
  const receiver = new Receiver({ isServer: false, maxPayload: 0 });
  const messages: Array<[string | Buffer, boolean]> = [];
  receiver.on('message', (data: Buffer, isBinary: boolean) =>
    messages.push([isBinary ? data : data.toString(), isBinary]),
  );
  receiver.on('error', (error: Error) => {
    throw error;
  });
  receiver.write(bytes);
  return messages;
}

describe('hub frames', () => {
  it("finds ws's framer on the ws this package depends on", () => {
    expect(wsFramer).toBeTypeOf('function');
  });

  it('frames with the fallback exactly as ws does, at every length boundary and around it (generated)', () => {
    const lengths = fc.oneof(
      fc.constantFrom(0, 1, 125, 126, 127, 65_535, 65_536, 70_000),
      fc.integer({ min: 0, max: 70_000 }),
    );
    fc.assert(
      fc.property(lengths, fc.boolean(), fc.integer({ min: 0, max: 255 }), (length, isBinary, byte) => {
        const payload = Buffer.alloc(length, byte);
        const fallback = frameMessage(payload, isBinary, undefined);
        expect(fallback.equals(frameMessage(payload, isBinary, wsFramer))).toBe(true);
        expect(fallback.length).toBe(frameHeader(length, isBinary).length + length);
      }),
      { numRuns: 60 },
    );
  });

  it("has ws's parser read the fallback's frames back as the messages, text and binary", () => {
    const text = 'é'.repeat(40_000); // 80,000 bytes: a 64-bit length
    const binary = Buffer.from([0, 1, 2, 255]);
    const bytes = Buffer.concat([frameMessage(text, false, undefined), frameMessage(binary, true, undefined)]);
    expect(parse(bytes)).toEqual([
      [text, false],
      [binary, true],
    ]);
  });

  it('falls back when ws has no Sender.frame, and the hub still delivers the same bytes', async () => {
    vi.resetModules();
    vi.doMock('ws', async (importOriginal) => {
      const real = await importOriginal<typeof import('ws')>();
      class Sender extends (real as unknown as { Sender: new (...args: any[]) => object }).Sender {
        static frame = undefined;
      }
      return { ...real, default: real.default, Sender };
    });
    const internals = await import('../src/internals/ws.js');
    expect(internals.wsFramer).toBeUndefined();
    const frame = internals.frameMessage('hello', false);
    expect([...frame]).toEqual([0x81, 5, ...Buffer.from('hello')]);
    expect(parse(frame)).toEqual([['hello', false]]);
  });
});
