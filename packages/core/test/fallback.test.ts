// The server side of the fallback protocol (docs/fallback-protocol.md), spoken by hand: raw
// sockets for the liveness frame, fetch for SSE streams and POSTs. The client package has its
// own end-to-end tests through blocking proxies.
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { CloseCode, createEndpoint, createHub, reject } from '../src/index.js';
import { LIVENESS_FRAME } from '../src/protocol.js';
import type { CloseEvent, Handlers } from '../src/index.js';
import { AsyncQueue, RawClient, delay, handshakeRequest, messages, openWs, quietFor } from '../../../test/helpers.js';

interface SseEvent {
  id?: string;
  event: string;
  data: string;
}

/** Reads an SSE response into events, as a fallback client would. */
function readEvents(response: Response): {
  events: SseEvent[];
  next(timeout?: number): Promise<SseEvent>;
  closed: Promise<void>;
} {
  const queue = new AsyncQueue<SseEvent>('event');
  const decoder = new TextDecoder();
  let buffer = '';
  const closed = (async () => {
    const reader = response.body!.getReader();
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true });
        let end: number;
        while ((end = buffer.indexOf('\n\n')) !== -1) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const event: SseEvent = { event: 'message', data: '' };
          const data: string[] = [];
          let isComment = true;
          for (const line of block.split('\n')) {
            if (line.startsWith(':')) continue;
            isComment = false;
            const colon = line.indexOf(':');
            const field = line.slice(0, colon);
            const value = line.slice(colon + 1).replace(/^ /, '');
            if (field === 'id') event.id = value;
            else if (field === 'event') event.event = value;
            else if (field === 'data') data.push(value);
            else if (field === 'retry') {
              event.event = 'retry';
              data.push(value);
            }
          }
          if (isComment) continue;
          event.data = data.join('\n');
          queue.push(event);
        }
      }
    } catch {
      // aborted
    }
    queue.end(new Error(`no event: the stream ended; had ${JSON.stringify(queue.all)}`));
  })();
  return { events: queue.all, closed, next: (timeout = 3000) => queue.next(timeout) };
}

const servers: http.Server[] = [];
const aborts: AbortController[] = [];
afterEach(() => {
  for (const abort of aborts.splice(0)) abort.abort();
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    server.close();
  }
});

/** What runs before the endpoint: true when it answered the request itself. */
type Guard = (req: http.IncomingMessage, res: http.ServerResponse) => boolean;

/**
 * A plain Node server in front of one endpoint, as an adapter would put it: the guard first, then
 * the endpoint for what it `handles()`, then the next handler (418) for everything else.
 */
async function serve(handlers: Handlers<any>, options: { guard?: Guard } = {}): Promise<string> {
  const endpoint = createEndpoint(handlers);
  const server = http.createServer((req, res) => {
    if (options.guard?.(req, res)) return;
    if (endpoint.handles(req)) void endpoint.handle(req, res);
    else res.writeHead(418).end('next');
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function openStream(
  base: string,
  query = '',
  headers: Record<string, string> = {},
): Promise<{ response: Response; stream: ReturnType<typeof readEvents>; session: string; protocol: string }> {
  const abort = new AbortController();
  aborts.push(abort);
  const response = await fetch(`${base}/ws?__sy=sse${query}`, {
    headers: { accept: 'text/event-stream', ...headers },
    signal: abort.signal,
  });
  expect(response.status).toBe(200);
  const stream = readEvents(response);
  expect((await stream.next()).event).toBe('retry');
  const open = await stream.next();
  expect(open.event).toBe('open');
  const { session, protocol } = JSON.parse(open.data) as { session: string; protocol: string };
  return { response, stream, session, protocol };
}

/** A POST as EventSource-era clients send it: the session in the URL (the client uses a header). */
function post(base: string, session: string, seq: number, frames: unknown[], query = ''): Promise<Response> {
  return fetch(`${base}/ws?__sy=post&__sy_session=${session}${query}`, {
    method: 'POST',
    headers: { 'content-type': 'text/plain;charset=UTF-8' },
    body: JSON.stringify({ seq, frames }),
  });
}

/** A POST as `@switchyard/client` sends it: the session in a header, an optional ack. */
function postWithHeader(
  base: string,
  session: string,
  body: { seq: number; frames: unknown[]; ack?: number },
): Promise<Response> {
  return fetch(`${base}/ws?__sy=post`, {
    method: 'POST',
    headers: { 'content-type': 'text/plain;charset=UTF-8', 'switchyard-session': session },
    body: JSON.stringify(body),
  });
}

function resume(base: string, session: string, lastEventId: number): Promise<Response> {
  const abort = new AbortController();
  aborts.push(abort);
  return fetch(`${base}/ws?__sy=sse`, {
    headers: { accept: 'text/event-stream', 'switchyard-session': session, 'last-event-id': String(lastEventId) },
    signal: abort.signal,
  });
}

describe('fallback: WebSocket liveness frame', () => {
  it('is sent first to a client that asks with __sy=1, and never to a plain client', async () => {
    const base = await serve({
      heartbeat: false,
      open(ws) {
        ws.send(`hello ${ws.request.url}`);
      },
    });
    const port = Number(new URL(base).port);
    const raw = await RawClient.connect(port);
    raw.write(handshakeRequest('/ws?room=1&__sy=1'));
    await raw.until(() => raw.frames().length >= 2);
    expect(raw.frames().map((f) => f.payload.toString())).toEqual([LIVENESS_FRAME, 'hello /ws?room=1']);
    raw.destroy();
    const plain = await openWs(`${base.replace('http', 'ws')}/ws?room=2`);
    expect((await messages(plain).next()).data.toString()).toBe('hello /ws?room=2');
    // No liveness frame may follow for a plain client.
    await quietFor(50);
    expect(messages(plain).all).toHaveLength(1);
    plain.close();
  });
});

describe('fallback: SSE + POST sessions', () => {
  it('runs middleware and the upgrade hook; rejections are HTTP answers', async () => {
    const base = await serve(
      {
        protocols: ['chat'],
        upgrade(req) {
          if (req.query.token !== 'ok') throw reject(401, 'Unauthorized', { 'WWW-Authenticate': 'Bearer' });
          return { context: 1 };
        },
      },
      { guard: (req, res) => Boolean(req.headers['x-banned'] && res.writeHead(403).end('banned')) },
    );
    const banned = await fetch(`${base}/ws?__sy=sse&token=ok`, {
      headers: { accept: 'text/event-stream', 'x-banned': '1' },
    });
    expect([banned.status, await banned.text()]).toEqual([403, 'banned']);
    const noToken = await fetch(`${base}/ws?__sy=sse`, { headers: { accept: 'text/event-stream' } });
    expect([noToken.status, noToken.headers.get('www-authenticate'), await noToken.text()]).toEqual([
      401,
      'Bearer',
      'Unauthorized\n',
    ]);
    const wrongProtocol = await fetch(`${base}/ws?__sy=sse&token=ok&__sy_protocols=soap`, {
      headers: { accept: 'text/event-stream' },
    });
    expect(wrongProtocol.status).toBe(400);
    expect(await wrongProtocol.text()).toContain('the client offered soap; this endpoint speaks chat');
    const { response, protocol } = await openStream(base, '&token=ok&__sy_protocols=soap,chat');
    expect(response.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    expect(response.headers.get('cache-control')).toBe('no-cache, no-transform');
    expect(protocol).toBe('chat');
  });

  it('carries text and binary both ways, with the same connection API and ws.transport', async () => {
    const seen: Array<[string, boolean, string, unknown]> = [];
    const base = await serve({
      heartbeat: false,
      upgrade: () => ({ context: { user: 'ann' } }),
      message(ws, data, isBinary) {
        seen.push([
          Buffer.isBuffer(data) ? `buf:${[...data].join(',')}` : data,
          isBinary,
          ws.transport,
          { ...ws.request.query },
        ]);
        ws.send(data);
        if (!isBinary) ws.send(`${ws.context.user} said ${String(data)}`);
      },
    });
    const { stream, session } = await openStream(base, '&room=7');
    expect(
      (
        await post(
          base,
          session,
          0,
          [
            ['t', 'hi\r\nthere "quoted"'],
            ['b', Buffer.from([0, 255]).toString('base64')],
          ],
          '&room=7',
        )
      ).status,
    ).toBe(204);
    const events = [await stream.next(), await stream.next(), await stream.next()];
    expect(events.map((e) => [e.id, e.event])).toEqual([
      ['1', 'message'],
      ['2', 'message'],
      ['3', 'binary'],
    ]);
    expect(JSON.parse(events[0]!.data)).toBe('hi\r\nthere "quoted"');
    expect(JSON.parse(events[1]!.data)).toBe('ann said hi\r\nthere "quoted"');
    expect([...Buffer.from(events[2]!.data, 'base64')]).toEqual([0, 255]);
    expect(seen).toEqual([
      ['hi\r\nthere "quoted"', false, 'sse', { room: '7' }],
      ['buf:0,255', true, 'sse', { room: '7' }],
    ]);
  });

  it('ignores frames of a retried POST, so nothing is delivered twice', async () => {
    const got: string[] = [];
    const base = await serve({
      heartbeat: false,
      message(_ws, data) {
        got.push(String(data));
      },
    });
    const { session } = await openStream(base);
    expect(
      (
        await post(base, session, 0, [
          ['t', 'a'],
          ['t', 'b'],
        ])
      ).status,
    ).toBe(204);
    expect(
      (
        await post(base, session, 0, [
          ['t', 'a'],
          ['t', 'b'],
        ])
      ).status,
    ).toBe(204);
    expect(
      (
        await post(base, session, 1, [
          ['t', 'b'],
          ['t', 'c'],
        ])
      ).status,
    ).toBe(204);
    expect(got).toEqual(['a', 'b', 'c']);
    expect((await post(base, 'nope', 0, [['t', 'x']])).status).toBe(404);
    const malformed = await fetch(`${base}/ws?__sy=post&__sy_session=${session}`, { method: 'POST', body: 'not json' });
    expect(malformed.status).toBe(400);
  });

  it('refuses a POST that starts after a frame it never saw (409), so a gap is never silent', async () => {
    const got: string[] = [];
    const base = await serve({
      heartbeat: false,
      message(_ws, data) {
        got.push(String(data));
      },
    });
    const { session } = await openStream(base);
    const gap = await post(base, session, 1, [['t', 'b']]);
    expect([gap.status, await gap.text()]).toEqual([409, 'Frames 0 to 0 are missing\n']);
    expect(got).toEqual([]);
    expect(
      (
        await post(base, session, 0, [
          ['t', 'a'],
          ['t', 'b'],
        ])
      ).status,
    ).toBe(204);
    expect(got).toEqual(['a', 'b']);
  });

  it('a resume whose missed events left the replay buffer ends the session with 404', async () => {
    const closes: number[] = [];
    let conn: { send(d: string): boolean } | undefined;
    const base = await serve({
      heartbeat: false,
      fallback: { replay: 2 },
      open(ws) {
        conn = ws;
      },
      close(_ws, { code }) {
        closes.push(code);
      },
    });
    const first = await openStream(base);
    for (const text of ['1', '2', '3', '4']) conn!.send(text);
    expect((await first.stream.next()).id).toBe('1');
    for (const a of aborts.splice(0)) a.abort();
    const tooOld = await fetch(`${base}/ws?__sy=sse&__sy_session=${first.session}`, {
      headers: { accept: 'text/event-stream', 'last-event-id': '1' },
    });
    expect(tooOld.status).toBe(404);
    expect(await tooOld.text()).toContain('events were lost');
    await vi.waitFor(() => expect(closes).toEqual([CloseCode.ABNORMAL]));
    const gone = await fetch(`${base}/ws?__sy=sse&__sy_session=${first.session}`, {
      headers: { accept: 'text/event-stream', 'last-event-id': '4' },
    });
    expect(gone.status).toBe(404);
  });

  it('replays events after Last-Event-ID when the stream reconnects, and ends the older stream', async () => {
    let conn: { send(d: string): boolean } | undefined;
    const base = await serve({
      heartbeat: false,
      open(ws) {
        conn = ws;
      },
    });
    const first = await openStream(base);
    conn!.send('one');
    conn!.send('two');
    expect((await first.stream.next()).data).toBe('"one"');
    expect((await first.stream.next()).data).toBe('"two"');
    const abort = new AbortController();
    aborts.push(abort);
    conn!.send('three');
    const resumed = await fetch(`${base}/ws?__sy=sse&__sy_session=${first.session}`, {
      headers: { accept: 'text/event-stream', 'last-event-id': '1' },
      signal: abort.signal,
    });
    expect(resumed.status).toBe(200);
    const stream = readEvents(resumed);
    expect((await stream.next()).event).toBe('retry');
    expect([(await stream.next()).data, (await stream.next()).data]).toEqual(['"two"', '"three"']);
    conn!.send('four');
    expect(await stream.next()).toEqual({ id: '4', event: 'message', data: '"four"' });
    await first.stream.closed;
    const unknown = await fetch(`${base}/ws?__sy=sse&__sy_session=unknown`, {
      headers: { accept: 'text/event-stream' },
    });
    expect(unknown.status).toBe(404);
  });

  it('expires a session with no stream and no POST; its close handler runs once with 1006', async () => {
    const closes: CloseEvent[] = [];
    const base = await serve({
      heartbeat: false,
      fallback: { sessionTimeout: 200 },
      close(_ws, event) {
        closes.push(event);
      },
    });
    const { session } = await openStream(base);
    for (const a of aborts.splice(0)) a.abort();
    await delay(120);
    expect((await post(base, session, 0, [['t', 'keep me']])).status).toBe(204);
    // The POST restarted the timeout: 240 ms after the stream ended, the session still lives.
    await quietFor(120);
    expect(closes).toEqual([]);
    await vi.waitFor(() => expect(closes).toHaveLength(1), { timeout: 2000 });
    expect(closes[0]!.code).toBe(CloseCode.ABNORMAL);
    expect((await post(base, session, 1, [['t', 'too late']])).status).toBe(404);
    // The close handler runs once only.
    await quietFor(300);
    expect(closes).toHaveLength(1);
  });

  it('closes both ways: a client close frame, and a server close event', async () => {
    const closes: number[] = [];
    let server: { close(code?: number, reason?: string): void } | undefined;
    const base = await serve({
      heartbeat: false,
      open(ws) {
        server ??= ws;
      },
      close(_ws, { code }) {
        closes.push(code);
      },
    });
    const a = await openStream(base);
    server!.close(4001, 'go away');
    expect(await a.stream.next()).toEqual({ id: '1', event: 'close', data: '{"code":4001,"reason":"go away"}' });
    await a.stream.closed;
    const b = await openStream(base);
    expect((await post(base, b.session, 0, [['close', 1000, 'bye']])).status).toBe(204);
    expect(JSON.parse((await b.stream.next()).data)).toEqual({ code: 1000, reason: 'bye' });
    await vi.waitFor(() => expect(closes).toEqual([4001, 1000]));
  });

  it('pings through the stream and measures the round trip from the pong POST', async () => {
    let rtt: Promise<number> | undefined;
    const base = await serve({
      heartbeat: false,
      open(ws) {
        rtt = ws.ping('abc');
      },
    });
    const { stream, session } = await openStream(base);
    const ping = await stream.next();
    expect([ping.event, Buffer.from(ping.data, 'base64').toString()]).toEqual(['ping', 'abc']);
    await delay(30);
    expect((await post(base, session, 0, [['pong', ping.data]])).status).toBe(204);
    const ms = await rtt!;
    expect(ms).toBeGreaterThanOrEqual(25);
  });

  it('applies maxPayload to POSTed messages: 413 and close 1009', async () => {
    const closes: number[] = [];
    const base = await serve({
      heartbeat: false,
      maxPayload: 10,
      close(_ws, { code }) {
        closes.push(code);
      },
    });
    const { stream, session } = await openStream(base);
    expect((await post(base, session, 0, [['t', '0123456789']])).status).toBe(204);
    expect((await post(base, session, 1, [['t', '0123456789A']])).status).toBe(413);
    expect(JSON.parse((await stream.next()).data)).toEqual({ code: 1009, reason: 'Message too big' });
    expect(closes).toEqual([1009]);
  });

  it('SSE connections subscribe and publish like WebSockets', async () => {
    const hub = createHub();
    const base = await serve({
      hub,
      heartbeat: false,
      open(ws) {
        ws.subscribe('room');
      },
      message(ws, data) {
        void ws.publish('room', data);
      },
    });
    const { stream, session } = await openStream(base);
    const ws = await openWs(`${base.replace('http', 'ws')}/ws`);
    await vi.waitFor(() => expect(hub.subscriberCount('room')).toBe(2));
    ws.send('from websocket');
    expect(JSON.parse((await stream.next()).data)).toBe('from websocket');
    expect((await post(base, session, 0, [['t', 'from sse']])).status).toBe(204);
    expect((await messages(ws).next()).data.toString()).toBe('from sse');
    void hub.publish('room', Buffer.from([1, 2]));
    expect((await stream.next()).event).toBe('binary');
    ws.close();
  });

  it('can be turned off: fallback requests then pass through to the next handler', async () => {
    const base = await serve({ fallback: false });
    const response = await fetch(`${base}/ws?__sy=sse`);
    expect(response.status).toBe(418);
    expect(await response.text()).toBe('next');
  });

  it('takes the session id from the Switchyard-Session header, for POSTs and resumes', async () => {
    const got: string[] = [];
    let conn: { send(d: string): boolean } | undefined;
    const base = await serve({
      heartbeat: false,
      open(ws) {
        conn = ws;
      },
      message(_ws, data) {
        got.push(String(data));
      },
    });
    const first = await openStream(base);
    expect((await postWithHeader(base, first.session, { seq: 0, frames: [['t', 'by header']] })).status).toBe(204);
    expect(got).toEqual(['by header']);
    conn!.send('one');
    expect((await first.stream.next()).data).toBe('"one"');
    conn!.send('two');
    const resumed = await resume(base, first.session, 1);
    expect(resumed.status).toBe(200);
    const stream = readEvents(resumed);
    expect((await stream.next()).event).toBe('retry');
    expect(await stream.next()).toEqual({ id: '2', event: 'message', data: '"two"' });
    // A malformed ack is a malformed body.
    const bad = await fetch(`${base}/ws?__sy=post`, {
      method: 'POST',
      headers: { 'switchyard-session': first.session },
      body: '{"seq":1,"frames":[],"ack":"2"}',
    });
    expect(bad.status).toBe(400);
  });

  it('an acknowledged event is freed: a resume from after the ack replays the rest, one from before it gets 404', async () => {
    let conn: { send(d: string): boolean } | undefined;
    const base = await serve({
      heartbeat: false,
      open(ws) {
        conn = ws;
      },
    });
    const first = await openStream(base);
    for (const text of ['a', 'b', 'c']) conn!.send(text);
    for (let i = 0; i < 3; i++) await first.stream.next();
    // An ack-only POST: no frames, seq where the client is.
    expect((await postWithHeader(base, first.session, { seq: 0, frames: [], ack: 2 })).status).toBe(204);
    for (const a of aborts.splice(0)) a.abort();
    const fromTwo = await resume(base, first.session, 2);
    expect(fromTwo.status).toBe(200);
    const stream = readEvents(fromTwo);
    await stream.next();
    expect(await stream.next()).toEqual({ id: '3', event: 'message', data: '"c"' });
    // An ack beyond the last event frees what there is, no more.
    expect((await postWithHeader(base, first.session, { seq: 0, frames: [], ack: 99 })).status).toBe(204);
    conn!.send('d');
    expect(await stream.next()).toEqual({ id: '4', event: 'message', data: '"d"' });
    for (const a of aborts.splice(0)) a.abort();
    const tooOld = await resume(base, first.session, 2);
    expect([tooOld.status, await tooOld.text()]).toEqual([404, 'Session can no longer be resumed: events were lost\n']);
  });

  it('keeps the newest events within replayBytes: a resume works exactly when every event it needs was kept', async () => {
    const eventBytes = (id: number, size: number): number =>
      Buffer.byteLength(`id: ${id}\ndata: "${'x'.repeat(size)}"\n\n`);
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: 0, max: 3000 }), { minLength: 1, maxLength: 12 }),
        fc.integer({ min: 100, max: 9000 }),
        fc.nat(),
        async (sizes, replayBytes, seenSeed) => {
          let conn: { send(d: string): boolean } | undefined;
          const base = await serve({
            heartbeat: false,
            fallback: { replayBytes },
            open(ws) {
              conn = ws;
            },
          });
          const first = await openStream(base);
          for (const size of sizes) conn!.send('x'.repeat(size));
          const seen = seenSeed % (sizes.length + 1);
          for (let i = 0; i < seen; i++) await first.stream.next();
          for (const a of aborts.splice(0)) a.abort();
          // What the server keeps: the longest run of newest events whose bytes fit the budget.
          let kept = 0;
          let total = 0;
          for (let i = sizes.length - 1; i >= 0; i--) {
            total += eventBytes(i + 1, sizes[i]!);
            if (total > replayBytes) break;
            kept++;
          }
          const response = await resume(base, first.session, seen);
          if (sizes.length - seen > kept) {
            expect(response.status).toBe(404);
            return;
          }
          expect(response.status).toBe(200);
          const stream = readEvents(response);
          expect((await stream.next()).event).toBe('retry');
          for (let id = seen + 1; id <= sizes.length; id++) {
            expect(await stream.next()).toEqual({
              id: String(id),
              event: 'message',
              data: JSON.stringify('x'.repeat(sizes[id - 1]!)),
            });
          }
          for (const a of aborts.splice(0)) a.abort();
        },
      ),
      { numRuns: 30 },
    );
  }, 30_000);

  it('a closed session whose reader does not read is cut off after 5 s, its socket destroyed', async () => {
    let closedAt = 0;
    const base = await serve({
      heartbeat: false,
      maxBufferedAmount: Infinity,
      open(ws) {
        // More than the kernel buffers hold: the end of the stream can't get out.
        const chunk = 'x'.repeat(256 * 1024);
        for (let i = 0; i < 64; i++) ws.send(chunk);
        setTimeout(() => {
          ws.close(4000, 'done');
          closedAt = Date.now();
        }, 200);
      },
    });
    const server = servers.at(-1)!;
    const sockets: net.Socket[] = [];
    server.on('connection', (socket: net.Socket) => sockets.push(socket));
    const reader = net.connect(Number(new URL(base).port), '127.0.0.1');
    reader.write('GET /ws?__sy=sse HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n');
    reader.pause();
    try {
      // Sending 16 MiB through the SSE encoder takes a while on a loaded machine.
      await vi.waitFor(() => expect(closedAt).toBeGreaterThan(0), { timeout: 5000 });
      // The socket is not destroyed before the 4 s grace period is over.
      await quietFor(4000);
      expect(sockets.map((socket) => socket.destroyed)).toEqual([false]);
      await vi.waitFor(() => expect(sockets[0]!.destroyed).toBe(true), { timeout: 3000 });
      expect(Date.now() - closedAt).toBeLessThan(7000);
    } finally {
      reader.destroy();
    }
  }, 20_000);
});
