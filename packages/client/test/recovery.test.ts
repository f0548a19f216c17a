import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RESUME_PREFIX, RecoveryTracker } from '../src/recovery.js';

const tokenOf = (tracker: RecoveryTracker): { s: string | null; p: Record<string, [string, string, number]> } =>
  JSON.parse(tracker.token().slice(RESUME_PREFIX.length));

describe('RecoveryTracker', () => {
  it('unwraps topic messages, text and binary, and keeps their positions', () => {
    const tracker = new RecoveryTracker();
    expect(tracker.receive('\u0000sy:session{"id":"S1","recovered":false,"unrecoverable":[]}')).toEqual({
      kind: 'session',
      recovered: false,
      unrecoverable: [],
    });
    expect(tracker.receive('\u0000sy:m["room","5-1","E",7]\nhello\nworld')).toEqual({
      kind: 'message',
      data: 'hello\nworld',
    });
    const binary = new Uint8Array([...new TextEncoder().encode('\u0000sy:m["bin","6-0","F",2]\n'), 0, 255]).buffer;
    const unwrapped = tracker.receive(binary);
    expect(unwrapped.kind).toBe('message');
    expect([...new Uint8Array((unwrapped as { data: ArrayBuffer }).data)]).toEqual([0, 255]);
    expect(tokenOf(tracker)).toEqual({ s: 'S1', p: { room: ['5-1', 'E', 7], bin: ['6-0', 'F', 2] } });
  });

  it('plain messages pass untouched', () => {
    const tracker = new RecoveryTracker();
    expect(tracker.receive('just text')).toEqual({ kind: 'message', data: 'just text' });
    const bytes = new Uint8Array([1, 2, 3]).buffer;
    expect(tracker.receive(bytes)).toEqual({ kind: 'message', data: bytes });
  });

  it('a position set aside in a token survives a connection lost before the server reports a new one', () => {
    const tracker = new RecoveryTracker();
    tracker.receive('\u0000sy:session{"id":"S","recovered":false,"unrecoverable":[]}');
    tracker.receive('\u0000sy:position{"topic":"t","id":"1-0","epoch":"E","count":1}');
    expect(tokenOf(tracker).p).toEqual({ t: ['1-0', 'E', 1] });
    // The next connection died before any frame: the same position again.
    expect(tokenOf(tracker).p).toEqual({ t: ['1-0', 'E', 1] });
    // It resumed, and reported a newer position: that one from now on.
    tracker.receive('\u0000sy:session{"id":"S","recovered":true,"unrecoverable":[]}');
    tracker.receive('\u0000sy:m["t","2-0","E",2]\nx');
    expect(tokenOf(tracker).p).toEqual({ t: ['2-0', 'E', 2] });
  });

  it('a session that did not resume drops the old positions; off forgets a topic; unrecoverable moves it', () => {
    const tracker = new RecoveryTracker();
    tracker.receive('\u0000sy:position{"topic":"a","id":"1-0","epoch":"E","count":1}');
    tracker.receive('\u0000sy:position{"topic":"b","id":"1-0","epoch":"E","count":1}');
    tracker.token();
    tracker.receive('\u0000sy:session{"id":"N","recovered":false,"unrecoverable":[{"topic":"a","reason":"expired"}]}');
    expect(tokenOf(tracker)).toEqual({ s: 'N', p: {} });
    tracker.receive('\u0000sy:position{"topic":"c","id":"1-0","epoch":"E","count":1}');
    tracker.receive('\u0000sy:off{"topic":"c"}');
    expect(
      tracker.receive('\u0000sy:unrecoverable{"topic":"d","reason":"trimmed","id":"9-0","epoch":"E","count":90}'),
    ).toEqual({ kind: 'unrecoverable', unrecoverable: [{ topic: 'd', reason: 'trimmed' }] });
    expect(tokenOf(tracker).p).toEqual({ d: ['9-0', 'E', 90] });
  });

  it('never throws on what a server (or a proxy) might send', () => {
    const tracker = new RecoveryTracker();
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc.string().map((s) => `\u0000sy:${s}`),
          fc.json().map((j) => `\u0000sy:position${j}`),
          fc.json().map((j) => `\u0000sy:m${j}\nx`),
          fc.uint8Array().map((b) => b.buffer as ArrayBuffer),
        ),
        (data) => {
          expect(() => tracker.receive(data)).not.toThrow();
          expect(() => JSON.parse(tracker.token().slice(RESUME_PREFIX.length))).not.toThrow();
        },
      ),
      { numRuns: 1000 },
    );
  });
});
