// The fallback's SSE session (src/fallback/session.ts) as a Transport: what it writes on a
// real event stream over 127.0.0.1, what it replays after a reconnect, what it reads from POSTed
// frames, and how it ends. No endpoint and no adapter: a bare node:http server attaches it.
import { createServer, get } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { SseSocket } from '../src/fallback/session.js';
import { ownerOf } from '../src/fallback/owner.js';
import type { ResolvedFallbackOptions } from '../src/fallback/settings.js';

const OPTIONS: ResolvedFallbackOptions = {
  sessionTimeout: 30_000,
  heartbeat: 15_000,
  retry: 1000,
  replay: 1000,
  replayBytes: 2 * 1024 * 1024,
};

const servers: Server[] = [];
const sessions: SseSocket[] = [];
afterEach(async () => {
  for (const session of sessions.splice(0)) session.terminate();
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

function session(options: Partial<ResolvedFallbackOptions> = {}, forget = vi.fn()): SseSocket {
  const created = new SseSocket({ forget }, 'chat', { ...OPTIONS, ...options }, ownerOf('ann'));
  sessions.push(created);
  return created;
}

/** A server whose every GET hands its response to `onStream`; resolves with its port. */
async function serve(onStream: (res: ServerResponse, req: IncomingMessage) => void): Promise<number> {
  const server = createServer((req, res) => onStream(res, req));
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

/** Reads an event stream until `until` says the text so far is enough. */
function read(port: number, until: (text: string) => boolean): Promise<{ text: string; response: IncomingMessage }> {
  return new Promise((resolve, reject) => {
    get({ host: '127.0.0.1', port, path: '/' }, (response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => {
        text += chunk;
        if (until(text)) resolve({ text, response });
      });
      response.on('end', () => resolve({ text, response }));
    }).on('error', reject);
  });
}

describe('SseSocket on the wire', () => {
  it('opens with retry and an open event, then numbers every message; binary goes base64', async () => {
    const sse = session();
    const port = await serve((res) => {
      sse.attach(res, undefined, true);
      sse.send('hello', { binary: false });
      sse.send(Buffer.from([0, 1, 2, 255]), { binary: true });
    });
    const { text, response } = await read(port, (so) => so.includes('event: binary'));
    expect(response.headers['content-type']).toBe('text/event-stream; charset=utf-8');
    expect(text).toBe(
      'retry: 1000\n\n' +
        `event: open\ndata: ${JSON.stringify({ session: sse.id, protocol: 'chat', heartbeat: 15_000 })}\n\n` +
        'id: 1\ndata: "hello"\n\n' +
        'id: 2\nevent: binary\ndata: AAEC/w==\n\n',
    );
    response.destroy();
  });

  it('replays what a dropped stream missed, from the Last-Event-ID on, and counts it as buffered meanwhile', async () => {
    const sse = session();
    let streams = 0;
    const port = await serve((res) => {
      streams++;
      if (streams === 1) {
        sse.attach(res, undefined, true);
        sse.send('one', { binary: false });
      } else {
        sse.attach(res, 1, false);
      }
    });
    const first = await read(port, (so) => so.includes('"one"'));
    first.response.destroy();
    await vi.waitFor(() => expect(sse.bufferedAmount).toBe(0));
    sse.send('two', { binary: false });
    sse.send('three', { binary: false });
    expect(sse.bufferedAmount).toBeGreaterThan(0);
    expect(sse.canReplayFrom(1)).toBe(true);
    const second = await read(port, (so) => so.includes('"three"'));
    expect(second.text).toBe('retry: 1000\n\nid: 2\ndata: "two"\n\nid: 3\ndata: "three"\n\n');
    second.response.destroy();
  });

  it('ends with a close event on the stream, tells its host, and emits close with the code', async () => {
    const forget = vi.fn();
    const sse = session({}, forget);
    const closed = new Promise<[number, string]>((resolve) =>
      sse.once('close', (code: number, reason: Buffer) => resolve([code, reason.toString()])),
    );
    const port = await serve((res) => {
      sse.attach(res, undefined, true);
      sse.close(4000, 'bye');
    });
    const { text } = await read(port, () => false);
    expect(text.endsWith(`id: 1\nevent: close\ndata: ${JSON.stringify({ code: 4000, reason: 'bye' })}\n\n`)).toBe(true);
    expect(await closed).toEqual([4000, 'bye']);
    expect(forget).toHaveBeenCalledWith(sse);
    expect(sse.readyState).toBe(3);
    sse.send('too late', { binary: false });
    expect(sse.bufferedAmount).toBe(0);
  });
});

describe('SseSocket replay budget', () => {
  it('keeps at most `replay` events: a resume from before them can no longer be served', () => {
    const sse = session({ replay: 2 });
    for (const text of ['a', 'b', 'c']) sse.send(text, { binary: false });
    expect(sse.canReplayFrom(0)).toBe(false);
    expect(sse.canReplayFrom(1)).toBe(true);
    sse.acknowledge(3);
    expect(sse.replayBytes).toBe(0);
    expect(sse.canReplayFrom(3)).toBe(true);
    expect(sse.canReplayFrom(4)).toBe(false);
  });

  it('never holds more than replayBytes of events, whatever is sent', () => {
    fc.assert(
      fc.property(
        fc.array(fc.string({ maxLength: 300 }), { maxLength: 60 }),
        fc.integer({ min: 64, max: 2048 }),
        (texts, budget) => {
          const sse = new SseSocket({ forget() {} }, '', { ...OPTIONS, replayBytes: budget }, ownerOf('x'));
          for (const text of texts) {
            sse.send(text, { binary: false });
            // One event over the budget on its own is dropped at once as well.
            expect(sse.replayBytes).toBeLessThanOrEqual(budget);
          }
          sse.terminate();
        },
      ),
    );
  });
});

describe('SseSocket reading POSTed frames', () => {
  it('delivers text, binary and pongs once each, in order, and skips a retried POST', () => {
    const sse = session();
    const seen: unknown[] = [];
    sse.on('message', (data: Buffer, isBinary: boolean) =>
      seen.push([data.toString(isBinary ? 'hex' : 'utf8'), isBinary]),
    );
    sse.on('pong', (data: Buffer) => seen.push(['pong', data.toString()]));
    const frames = [
      ['t', 'hi'],
      ['b', Buffer.from([1, 2]).toString('base64')],
      ['pong', Buffer.from('p').toString('base64')],
    ];
    expect(sse.receive(0, frames, 1024)).toEqual([204, '']);
    expect(sse.receive(0, frames, 1024)).toEqual([204, '']);
    expect(seen).toEqual([
      ['hi', false],
      ['0102', true],
      ['pong', 'p'],
    ]);
    expect(sse.nextClientFrame).toBe(3);
  });

  it('answers a gap with 409, an unknown frame with 400, and a close frame by closing', () => {
    const sse = session();
    expect(sse.receive(2, [['t', 'x']], 1024)).toEqual([409, 'Frames 0 to 1 are missing']);
    expect(sse.receive(0, [['nope', 1]], 1024)).toEqual([400, 'Unknown frame "nope"']);
    const closed = vi.fn();
    sse.on('close', closed);
    expect(sse.receive(1, [['close', 4002, 'done']], 1024)).toEqual([204, '']);
    expect(closed).toHaveBeenCalledWith(4002, Buffer.from('done'));
  });

  it('never throws on generated frames: every answer is 204, 400, 409, or 413 with a 1009 close', () => {
    fc.assert(
      fc.property(fc.nat(4), fc.array(fc.anything(), { maxLength: 6 }), (seq, frames) => {
        const sse = new SseSocket({ forget() {} }, '', OPTIONS, ownerOf('x'));
        sse.on('message', () => {});
        sse.on('close', () => {});
        const [status] = sse.receive(seq, frames, 64);
        expect([204, 400, 409, 413]).toContain(status);
        sse.terminate();
      }),
    );
  });
});
