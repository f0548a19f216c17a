import { describe, expect, it } from 'vitest';
import { frameMessage } from '../src/internals/ws.js';
import { Hub, Inbox } from '../src/hub/hub.js';

// The hub's own module, from core's sources: it frames a message once for every subscriber
// (FrameSink, transport.ts) and hands it to inboxes as it came. Subscribers here are sinks that
// record what they were given; the suite above runs the same hub over real sockets.
describe('Hub (src): one frame for every subscriber', () => {
  class RecordingSink {
    frames: Array<[Buffer, string | Buffer, boolean]> = [];
    sendFrame(frame: Buffer, payload: string | Buffer, isBinary: boolean): boolean {
      this.frames.push([frame, payload, isBinary]);
      return true;
    }
  }

  it('builds the frame once, skips the publisher, and gives inboxes the payload', async () => {
    const hub = new Hub();
    const [a, b, publisher] = [new RecordingSink(), new RecordingSink(), new RecordingSink()];
    const received: Array<[string, boolean]> = [];
    for (const sink of [a, b, publisher]) hub.add(sink as never, 'room');
    hub.add(new Inbox((payload, isBinary) => received.push([payload.toString(), isBinary])), 'room');
    await hub.publish('room', 'hello', publisher as never);
    expect(publisher.frames).toEqual([]);
    expect(a.frames).toHaveLength(1);
    expect(a.frames[0]![0]).toBe(b.frames[0]![0]);
    expect(a.frames[0]![0]).toEqual(frameMessage('hello', false));
    expect(a.frames[0]!.slice(1)).toEqual(['hello', false]);
    expect(received).toEqual([['hello', false]]);
  });

  it('sends binary as binary, and counts topics and subscriptions as they come and go', async () => {
    const hub = new Hub();
    const sink = new RecordingSink();
    expect(hub.add(sink as never, 't1')).toBe(true);
    expect(hub.add(sink as never, 't1')).toBe(false);
    hub.add(sink as never, 't2');
    expect(hub.stats).toEqual({ topics: 2, subscriptions: 2 });
    await hub.publish('t2', new Uint8Array([1, 2, 3]));
    expect(sink.frames[0]!.slice(1)).toEqual([Buffer.from([1, 2, 3]), true]);
    expect(hub.remove(sink as never, 't1')).toBe(true);
    expect(hub.remove(sink as never, 't1')).toBe(false);
    hub.remove(sink as never, 't2');
    expect(hub.stats).toEqual({ topics: 0, subscriptions: 0 });
    await hub.publish('t2', 'nobody');
    expect(sink.frames).toHaveLength(1);
  });
});
