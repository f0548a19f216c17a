/**
 * What the messages suites send and build: raw connections that write pre-built frame floods,
 * and JSON shapes (deep, wide, escaped, brackets inside strings) generated with fast-check.
 */
import fc from 'fast-check';
import { Opcode, RawClient, frame, handshakeRequest } from '../helpers.js';

/** A masked client frame with the zero key: valid, and built without a pass over the payload. */
export function zeroMasked(opcode: number, payload: Buffer, fin = true): Buffer {
  const length = payload.length;
  const lengthBytes = length < 126 ? 0 : length < 65536 ? 2 : 8;
  const header = Buffer.alloc(2 + lengthBytes + 4);
  header[0] = (fin ? 0x80 : 0) | opcode;
  header[1] = 0x80 | (length < 126 ? length : length < 65536 ? 126 : 127);
  if (lengthBytes === 2) header.writeUInt16BE(length, 2);
  if (lengthBytes === 8) header.writeBigUInt64BE(BigInt(length), 2);
  return Buffer.concat([header, payload]);
}

/** A raw client after a 101 on `path`. */
export async function upgraded(port: number, path: string): Promise<RawClient> {
  const client = await RawClient.connect(port);
  client.write(handshakeRequest(path));
  const head = await client.response();
  if (head.status !== 101) throw new Error(`expected a 101, got ${head.statusLine}`);
  return client;
}

/** One flood of frames from a client. */
export type Flood =
  | { kind: 'ping' | 'pong'; count: number; size: number }
  | { kind: 'mixed'; frames: Array<'ping' | 'pong'> }
  | { kind: 'fragments'; count: number; pingsInside: number };

/** Floods around each limit: control-frame budgets, ws's pending pongs, ws's 16,384 fragments. */
export const flood: fc.Arbitrary<Flood> = fc.oneof(
  fc.record({
    kind: fc.constantFrom('ping' as const, 'pong' as const),
    count: fc.oneof(fc.integer({ min: 1, max: 50 }), fc.integer({ min: 51, max: 3000 })),
    size: fc.integer({ min: 0, max: 125 }),
  }),
  fc.record({
    kind: fc.constant('mixed' as const),
    frames: fc.array(fc.constantFrom('ping' as const, 'pong' as const), { minLength: 1, maxLength: 200 }),
  }),
  fc.record({
    kind: fc.constant('fragments' as const),
    count: fc.oneof(fc.integer({ min: 1, max: 200 }), fc.integer({ min: 16_380, max: 16_400 })),
    pingsInside: fc.integer({ min: 0, max: 3 }),
  }),
);

/** The control frames of a flood that the budget counts (pings, and pongs nobody asked for). */
export function controlFramesOf(f: Flood): number {
  if (f.kind === 'mixed') return f.frames.length;
  if (f.kind === 'fragments') return f.pingsInside;
  return f.count;
}

/** The pings of a flood: each one the server answers while the connection is within budget. */
export function pingsOf(f: Flood): number {
  if (f.kind === 'mixed') return f.frames.filter((k) => k === 'ping').length;
  if (f.kind === 'fragments') return f.pingsInside;
  return f.kind === 'ping' ? f.count : 0;
}

/** The bytes of a flood, in one buffer (so that they arrive together, as an attacker's would). */
export function floodBytes(f: Flood): Buffer {
  if (f.kind === 'fragments') {
    // The first frame opens a text message; `count` continuations follow, the last one final.
    const parts = [zeroMasked(Opcode.TEXT, Buffer.from('f'), false)];
    for (let i = 0; i < f.count; i++) {
      parts.push(zeroMasked(Opcode.CONTINUATION, Buffer.from('x'), i === f.count - 1));
      if (i < f.pingsInside) parts.push(frame(Opcode.PING, 'inside'));
    }
    return Buffer.concat(parts);
  }
  const kinds = f.kind === 'mixed' ? f.frames : Array.from({ length: f.count }, () => f.kind);
  const payload = Buffer.alloc(f.kind === 'mixed' ? 4 : f.size, 0x61);
  return Buffer.concat(kinds.map((k) => zeroMasked(k === 'ping' ? Opcode.PING : Opcode.PONG, payload)));
}

/** Strings full of what a depth scan must skip: brackets, quotes, backslashes, non-ASCII. */
export const trickyString = fc.stringMatching(/^[[\]{}"\\\\,:a\u00e9\u{1F600}]{0,40}$/u);

/** A JSON shape: nesting of arrays or objects, its width at each level and what fills it. */
export interface Shape {
  depth: number;
  width: number;
  container: 'array' | 'object' | 'alternate';
  leaf: string | number | null;
  /** Pretty-printed: whitespace between tokens. */
  spaced: boolean;
}

export const shape: fc.Arbitrary<Shape> = fc.record({
  depth: fc.oneof(fc.integer({ min: 0, max: 70 }), fc.integer({ min: 60, max: 68 })),
  width: fc.integer({ min: 0, max: 6 }),
  container: fc.constantFrom('array' as const, 'object' as const, 'alternate' as const),
  leaf: fc.oneof(trickyString, fc.integer(), fc.constant(null)),
  spaced: fc.boolean(),
});

/** The JSON text of a shape: `depth` levels, each with `width` leaves beside the next level. */
export function shapeText(s: Shape): string {
  let inner: unknown = s.leaf;
  for (let level = 0; level < s.depth; level++) {
    const leaves = Array.from({ length: s.width }, () => s.leaf);
    const asArray = s.container === 'array' || (s.container === 'alternate' && level % 2 === 0);
    if (asArray) inner = [...leaves, inner];
    else inner = Object.fromEntries([...leaves.map((leaf, i) => [`k${i}`, leaf]), ['next', inner]]);
  }
  return JSON.stringify(inner, null, s.spaced ? 1 : undefined);
}

/** The nesting depth of a parsed value. */
export function depthOf(value: unknown): number {
  let depth = 0;
  let level: unknown[] = [value];
  // Breadth first, so that no depth an attacker picks can overflow this stack.
  while (level.length > 0) {
    const next: unknown[] = [];
    for (const item of level) {
      if (item !== null && typeof item === 'object') next.push(...(Array.isArray(item) ? item : Object.values(item)));
    }
    if (next.length === 0 && !level.some((item) => item !== null && typeof item === 'object')) break;
    depth++;
    level = next;
  }
  return depth;
}
