import { EventEmitter } from 'node:events';
import type { IncomingMessage } from 'node:http';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MAX_SHED_RETRY_AFTER, PendingHandshakes } from '../src/shedding.js';

/** A request whose socket can close, as far as the gate looks at it. */
function request(): { req: IncomingMessage; socket: EventEmitter & { destroyed: boolean } } {
  const socket = Object.assign(new EventEmitter(), { destroyed: false });
  return { req: { socket } as unknown as IncomingMessage, socket };
}

describe('PendingHandshakes (maxPendingHandshakes)', () => {
  it('takes places up to the bound, sheds beyond, and a settled handshake frees its place', () => {
    const gate = new PendingHandshakes(2);
    const a = request();
    const b = request();
    expect(gate.enter()).toBe(true);
    expect(gate.enter()).toBe(true);
    expect(gate.enter()).toBe(false);
    expect(gate).toMatchObject({ count: 2, shed: 1 });
    gate.leave(a.req);
    expect(gate.enter()).toBe(true);
    gate.leave(b.req);
    gate.leave(a.req);
    expect(gate.count).toBe(0);
  });

  it('a waiting handshake whose client leaves frees its place once, and no listener is left', () => {
    const gate = new PendingHandshakes(1);
    const { req, socket } = request();
    expect(gate.enter()).toBe(true);
    gate.watch(req);
    gate.watch(req);
    expect(socket.listenerCount('close')).toBe(1);
    socket.emit('close');
    expect(gate.count).toBe(0);
    expect(gate.enter()).toBe(true);
    // The first handshake settles later: the place it gave back is not given back twice.
    gate.leave(req);
    expect(gate.count).toBe(1);
    expect(socket.listenerCount('close')).toBe(0);
  });

  it('a socket already destroyed when the handshake starts waiting frees the place at once', () => {
    const gate = new PendingHandshakes(1);
    const { req, socket } = request();
    socket.destroyed = true;
    gate.enter();
    gate.watch(req);
    expect(gate.count).toBe(0);
    gate.leave(req);
    expect(gate.count).toBe(0);
  });

  it('generated interleavings of enter, watch, client close and settle: the count is exact and bounded', () => {
    const op = fc.oneof(
      fc.constant({ kind: 'enter' as const }),
      fc.record({ kind: fc.constantFrom('watch' as const, 'close' as const, 'settle' as const), index: fc.nat(20) }),
    );
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 5 }), fc.array(op, { maxLength: 60 }), (max, ops) => {
        const gate = new PendingHandshakes(max);
        // Handshakes in progress, each with whether its place is still held.
        const live: Array<{
          req: IncomingMessage;
          socket: EventEmitter & { destroyed: boolean };
          held: boolean;
          watched: boolean;
        }> = [];
        for (const step of ops) {
          if (step.kind === 'enter') {
            const full = live.filter((one) => one.held).length >= max;
            expect(gate.enter()).toBe(!full);
            if (!full) live.push({ ...request(), held: true, watched: false });
          } else if (live.length > 0) {
            const one = live[step.index % live.length]!;
            if (step.kind === 'watch') {
              // Watched once its client already left: the place is free at once.
              if (!one.watched && one.socket.destroyed) one.held = false;
              one.watched = true;
              gate.watch(one.req);
            } else if (step.kind === 'close') {
              one.socket.destroyed = true;
              if (one.socket.listenerCount('close') > 0) one.held = false;
              one.socket.emit('close');
            } else {
              gate.leave(one.req);
              live.splice(live.indexOf(one), 1);
              expect(one.socket.listenerCount('close')).toBe(0);
            }
          }
          expect(gate.count).toBe(live.filter((one) => one.held).length);
          expect(gate.count).toBeLessThanOrEqual(max);
        }
      }),
    );
  });

  it('Retry-After: 1 for a small overflow; whole seconds within 1..5, spread as sheds pass the bound', () => {
    const gate = new PendingHandshakes(10);
    // Under the bound's worth of sheds in this second: always 1.
    for (let i = 0; i < 9; i++) expect(gate.retryAfter(5_000)).toBe(1);
    const seen = new Set<number>();
    for (let i = 0; i < 200; i++) seen.add(gate.retryAfter(5_500));
    expect([...seen].every((s) => Number.isInteger(s) && s >= 1 && s <= MAX_SHED_RETRY_AFTER)).toBe(true);
    expect(seen.size).toBeGreaterThan(2);
    // A new second starts from 1 again.
    expect(gate.retryAfter(6_000)).toBe(1);
  });
});
