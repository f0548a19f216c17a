/**
 * The SSE + POST transport against a scripted server: what goes on the wire and how the client
 * reacts to each answer the protocol allows (docs/fallback-protocol.md, sections 2 and 3).
 */
import { describe, expect, it } from 'vitest';
import { connect } from '../src/index.js';
import type { ConnectOptions, SwitchyardSocket } from '../src/index.js';
import { ScriptedServer, openStream } from './scripted-server.js';
import { quietFor, until } from '../../../test/helpers.js';

const OPEN = (session: string, protocol = ''): string =>
  `event: open\ndata: ${JSON.stringify({ session, protocol })}\n\n`;

function record(socket: SwitchyardSocket) {
  const log: string[] = [];
  const received: unknown[] = [];
  socket.addEventListener('open', () => log.push('open'));
  socket.addEventListener('error', () => log.push('error'));
  socket.addEventListener('message', (event) =>
    received.push(typeof event.data === 'string' ? event.data : [...new Uint8Array(event.data)]),
  );
  socket.addEventListener('close', (event) =>
    log.push(
      `close ${event.code} ${event.reason} ${event.wasClean ? 'clean' : 'unclean'}${event.willReconnect ? ' reconnecting' : ''}`,
    ),
  );
  return { log, received };
}

const sseOnly = (extra: ConnectOptions = {}): ConnectOptions => ({
  WebSocket: undefined,
  // Generous: the first request of a file loads undici, which on a busy machine takes longer than
  // a second; the test of the timeout itself sets its own.
  livenessTimeout: 5000,
  reconnect: { initialDelay: 20, maxDelay: 50 },
  ...extra,
});

// Waits are for at least N entries, and the exact log is asserted after: with full jitter a retry
// or reconnect can follow within one poll of `until`, so an exact count may never be seen.
async function opened(server: ScriptedServer, extra?: ConnectOptions, path?: string) {
  const socket = connect(server.url(path), sseOnly(extra));
  const recorded = record(socket);
  await until(() => recorded.log.length > 0, 'open');
  expect(recorded.log).toEqual(['open']);
  return { socket, ...recorded };
}

describe('the stream', () => {
  it('asks with __sy=sse, its protocols and Accept; decodes text, binary and skips the rest', async () => {
    const server = await ScriptedServer.start();
    server.stream = (res) =>
      openStream(
        res,
        [
          'retry: 50\n\n',
          OPEN('s1', 'chat'),
          ':\n\n',
          'id: 1\ndata: "a\\nb \\"c\\" é"\n\n',
          'id: 2\nevent: binary\ndata: AAH/\n\n',
          'id: 3\nevent: from-the-future\ndata: x\n\n',
          'id: 4\ndata: ""\n\n',
        ].join(''),
      );
    const { socket, received } = await opened(server, { protocols: ['soap', 'chat'] }, '/ep?token=a%20b');
    expect(socket.protocol).toBe('chat');
    expect(socket.transport).toBe('sse');
    await until(() => received.length >= 3, 'three messages');
    expect(received).toEqual(['a\nb "c" é', [0, 1, 255], '']);
    const [request] = server.streamRequests();
    expect(`${request!.url.pathname}${request!.url.search}`).toBe(
      '/ep?token=a%20b&__sy=sse&__sy_protocols=soap%2Cchat',
    );
    expect(request!.headers.accept).toBe('text/event-stream');
    expect(request!.headers['last-event-id']).toBeUndefined();
    socket.close();
  });

  it('a dropped stream resumes after `retry` with the session and the last complete event id', async () => {
    const server = await ScriptedServer.start();
    server.stream = (res, _request, index) => {
      if (index === 0) {
        openStream(res, `retry: 200\n\n${OPEN('s1')}id: 1\ndata: "one"\n\nid: 2\ndata: "two"\n\nid: 3\ndata: "thr`);
        setTimeout(() => res.destroy(), 50);
      } else {
        openStream(res, 'id: 3\ndata: "three"\n\nid: 4\ndata: "four"\n\n');
      }
    };
    const { socket, received, log } = await opened(server);
    await until(() => server.streamRequests().length >= 2, 'the resume');
    const [first, resume] = server.streamRequests();
    await until(() => received.length >= 4, 'four messages');
    expect(received).toEqual(['one', 'two', 'three', 'four']);
    // The session goes in a header, never in the URL (access logs, proxies).
    expect(resume!.url.search).toBe('?__sy=sse');
    expect(resume!.headers['switchyard-session']).toBe('s1');
    expect(resume!.headers['last-event-id']).toBe('2');
    expect(first!.headers['last-event-id']).toBeUndefined();
    expect(log).toEqual(['open']);
    socket.close();
  });

  it('a resume answered 404: close 1006, then a fresh session', async () => {
    const server = await ScriptedServer.start();
    server.stream = (res, _request, index) => {
      if (index === 0) {
        openStream(res, `retry: 10\n\n${OPEN('s1')}`);
        setTimeout(() => res.destroy(), 20);
      } else if (index === 1) {
        res.writeHead(404).end('Unknown or expired session');
      } else {
        openStream(res, OPEN('s2'));
      }
    };
    const { socket, log } = await opened(server);
    await until(() => log.length >= 3, 'the second open');
    expect(log).toEqual(['open', 'close 1006 session expired unclean reconnecting', 'open']);
    expect(server.streamRequests().map((r) => [r.url.search, r.headers['switchyard-session']])).toEqual([
      ['?__sy=sse', undefined],
      ['?__sy=sse', 's1'],
      ['?__sy=sse', undefined],
    ]);
    socket.send('on s2');
    await until(() => server.posts().length >= 1, 'a POST');
    expect(server.posts()[0]!.url.search).toBe('?__sy=post');
    expect(server.posts()[0]!.headers['switchyard-session']).toBe('s2');
    socket.close();
  });

  it('a close event ends the session for good', async () => {
    const server = await ScriptedServer.start();
    server.stream = (res) =>
      openStream(res, `${OPEN('s1')}id: 1\nevent: close\ndata: {"code":4002,"reason":"kicked"}\n\n`);
    const socket = connect(server.url(), sseOnly());
    const { log } = record(socket);
    await until(() => log.length >= 2, 'open and close');
    expect(log).toEqual(['open', 'close 4002 kicked clean']);
    // No reconnection may follow.
    await quietFor(100);
    expect(server.streamRequests()).toHaveLength(1);
  });

  const sequences: Array<[name: string, resumeWith: string, log: string]> = [
    [
      'a gap (the resume is older than what the server kept)',
      'id: 4\ndata: "four"\n\n',
      'close 1006 event 4 after 2 unclean reconnecting',
    ],
    ['a repeat', 'id: 2\ndata: "two"\n\n', 'close 1006 event 2 after 2 unclean reconnecting'],
  ];
  for (const [name, resumeWith, line] of sequences) {
    it(`ids must count up by one: ${name} is reported, not passed on`, async () => {
      const server = await ScriptedServer.start();
      server.stream = (res, _request, index) => {
        if (index === 0) {
          openStream(res, `retry: 10\n\n${OPEN('s1')}id: 1\ndata: "one"\n\nid: 2\ndata: "two"\n\n`);
          setTimeout(() => res.destroy(), 30);
        } else if (index === 1) {
          openStream(res, resumeWith);
        } else {
          openStream(res, OPEN('s2'));
        }
      };
      const { socket, log, received } = await opened(server);
      await until(() => log.length >= 3, 'the new session');
      expect(log).toEqual(['open', line, 'open']);
      expect(received).toEqual(['one', 'two']);
      socket.close();
    });
  }

  it('a malformed event closes with 1002 and does not reconnect', async () => {
    const server = await ScriptedServer.start();
    server.stream = (res) => openStream(res, `${OPEN('s1')}id: 1\ndata: not json\n\n`);
    const socket = connect(server.url(), sseOnly());
    const { log } = record(socket);
    await until(() => log.length >= 2, 'open and close');
    expect(log[1]).toMatch(/^close 1002 malformed event: .* unclean$/);
  });

  it('the first GET: 5xx is retried, 4xx is final', async () => {
    const server = await ScriptedServer.start();
    server.stream = (res, _request, index) => {
      if (index === 0) res.writeHead(503).end();
      else res.writeHead(403).end('no');
    };
    const socket = connect(server.url(), sseOnly());
    const { log } = record(socket);
    await until(() => log.length >= 3, 'two errors and a close');
    expect(log).toEqual(['error', 'error', 'close 1006 HTTP 403 unclean']);
  });

  it('a stream that never sends `open` fails after livenessTimeout', async () => {
    const server = await ScriptedServer.start();
    server.stream = (res) => openStream(res, 'retry: 10\n\n');
    const started = Date.now();
    const socket = connect(server.url(), sseOnly({ livenessTimeout: 200, reconnect: false }));
    const { log } = record(socket);
    await until(() => log.length >= 2, 'error and close');
    expect(log).toEqual(['error', 'close 1006 no open event unclean']);
    expect(Date.now() - started).toBeGreaterThanOrEqual(200);
  });

  it('a 200 that is not an event stream is a failed attempt', async () => {
    const server = await ScriptedServer.start();
    server.stream = (res) => res.writeHead(200, { 'Content-Type': 'text/html' }).end('<h1>a page</h1>');
    const socket = connect(server.url(), sseOnly({ reconnect: false }));
    const { log } = record(socket);
    await until(() => log.length >= 2, 'error and close');
    expect(log).toEqual(['error', 'close 1006 HTTP 200 text/html unclean']);
  });
});

describe('POSTs', () => {
  it('one at a time, in order; seq counts frames; text as is, binary base64', async () => {
    const server = await ScriptedServer.start();
    server.post = (_request, index) => (index === 0 ? 204 : 202);
    const { socket } = await opened(server);
    socket.send('a');
    socket.send(new Uint8Array([0, 1, 2]));
    socket.send('c');
    await until(() => server.posts().length >= 2, 'two POSTs');
    expect(server.posts().map((p) => p.body)).toEqual([
      '{"seq":0,"frames":[["t","a"]]}',
      '{"seq":1,"frames":[["b","AAEC"],["t","c"]]}',
    ]);
    const [post] = server.posts();
    expect(post!.url.search).toBe('?__sy=post');
    expect(post!.headers['switchyard-session']).toBe('s1');
    expect(post!.headers['content-type']).toBe('text/plain;charset=UTF-8');
    socket.send('d');
    await until(() => server.posts().length >= 3, 'a third POST');
    expect(server.posts()[2]!.body).toBe('{"seq":3,"frames":[["t","d"]]}');
    socket.close();
  });

  it('a failed POST is retried with the same body, and what came meanwhile waits for the next', async () => {
    const server = await ScriptedServer.start();
    server.post = (_request, index) => (index < 2 ? 503 : 204);
    const { socket } = await opened(server);
    socket.send('a');
    await until(() => server.posts().length >= 1, 'the first POST');
    socket.send('b');
    await until(() => server.posts().length >= 4, 'two retries and the next POST');
    expect(server.posts().map((p) => p.body)).toEqual([
      '{"seq":0,"frames":[["t","a"]]}',
      '{"seq":0,"frames":[["t","a"]]}',
      '{"seq":0,"frames":[["t","a"]]}',
      '{"seq":1,"frames":[["t","b"]]}',
    ]);
    socket.close();
  });

  it('pings are answered with pong frames carrying the same payload, and acknowledging the ping: one POST per ping', async () => {
    const server = await ScriptedServer.start();
    server.stream = (res) => openStream(res, `${OPEN('s1')}id: 1\nevent: ping\ndata: aGk=\n\n`);
    const { socket } = await opened(server);
    await until(() => server.posts().length >= 1, 'the pong');
    expect(server.posts()[0]!.body).toBe('{"seq":0,"frames":[["pong","aGk="]],"ack":1}');
    // The pong acknowledged the ping: no POST of its own for that acknowledgement 2 s later (at
    // scale, every idle session's heartbeat would cost the server two requests).
    await quietFor(2500);
    expect(server.posts()).toHaveLength(1);
    socket.close();
  }, 10_000);

  it('close() sends a close frame after what was queued, and reports close once it is delivered', async () => {
    const server = await ScriptedServer.start();
    const { socket, log } = await opened(server);
    socket.send('last words');
    socket.close(4000, 'bye');
    expect(socket.readyState).toBe(socket.CLOSING);
    await until(() => log.length >= 2, 'close');
    expect(log[1]).toBe('close 4000 bye clean');
    expect(server.frames()).toEqual([
      ['t', 'last words'],
      ['close', 4000, 'bye'],
    ]);
    // The stream is let go.
    await until(() => server.streams.size === 0, 'the stream to end');
  });

  const endings: Array<[status: number, log: string]> = [
    [413, 'close 1009 message too big unclean'],
    [400, 'close 1002 POST refused unclean'],
    [403, 'close 1006 POST answered HTTP 403 unclean reconnecting'],
  ];
  for (const [status, line] of endings) {
    it(`a POST answered ${status}: ${line}`, async () => {
      const server = await ScriptedServer.start();
      server.post = () => status;
      const { socket, log } = await opened(server);
      socket.send('x');
      await until(() => log.length >= 2, 'close');
      expect(log[1]).toBe(line);
      socket.close();
    });
  }

  it('a POST answered 404 (session gone): its messages are sent again on the next session', async () => {
    const server = await ScriptedServer.start();
    server.stream = (res, _request, index) => openStream(res, OPEN(`s${index + 1}`));
    server.post = (_request, index) => (index === 0 ? 404 : 204);
    const { socket, log } = await opened(server);
    socket.send('not lost');
    await until(() => server.posts().length >= 2, 'the POST on the new session');
    expect(log).toEqual(['open', 'close 1006 session expired unclean reconnecting', 'open']);
    expect(server.posts().map((p) => [p.headers['switchyard-session'], p.body])).toEqual([
      ['s1', '{"seq":0,"frames":[["t","not lost"]]}'],
      ['s2', '{"seq":0,"frames":[["t","not lost"]]}'],
    ]);
    socket.close();
  });

  it('a POST delivered while the server closed the session is not sent again', async () => {
    const server = await ScriptedServer.start();
    let stream: import('node:http').ServerResponse | undefined;
    server.stream = (res, _request, index) => {
      openStream(res, OPEN(`s${index + 1}`));
      stream = res;
    };
    server.post = () => {
      // The app closes the session (1012: reconnect) while handling this POST, which is delivered.
      stream!.write('id: 1\nevent: close\ndata: {"code":1012,"reason":"restart"}\n\n');
      return 204;
    };
    const { socket, log } = await opened(server);
    socket.send('delivered once');
    await until(() => log.length >= 3, 'the reconnection');
    expect(log).toEqual(['open', 'close 1012 restart clean reconnecting', 'open']);
    // The delivered POST is not sent again after the reconnection.
    await quietFor(100);
    expect(server.posts().map((p) => p.body)).toEqual(['{"seq":0,"frames":[["t","delivered once"]]}']);
    socket.close();
  });
});

describe('acknowledgements and batches', () => {
  it('each POST acknowledges the last event read; 64 KiB of unacknowledged events get an ack of their own', async () => {
    const server = await ScriptedServer.start();
    const big = 'y'.repeat(40 * 1024);
    server.stream = (res) => {
      openStream(res, `retry: 50\n\n${OPEN('s1')}id: 1\ndata: "a"\n\n`);
      // Two events of 40 KiB: 64 KiB unacknowledged after the second.
      setTimeout(() => res.write(`id: 2\ndata: "${big}"\n\nid: 3\ndata: "${big}"\n\n`), 100);
    };
    const { socket, received } = await opened(server);
    await until(() => received.length >= 1, 'the first message');
    socket.send('m');
    await until(() => server.posts().length >= 1, 'a POST');
    expect(server.posts()[0]!.json).toEqual({ seq: 0, frames: [['t', 'm']], ack: 1 });
    await until(() => received.length >= 3, 'the large messages');
    await until(() => server.posts().length >= 2, 'an ack of its own', 1000);
    expect(server.posts()[1]!.json).toEqual({ seq: 1, frames: [], ack: 3 });
    // No third POST: everything read is acknowledged.
    await quietFor(300);
    expect(server.posts()).toHaveLength(2);
    socket.close();
  });

  it('a few small events are acknowledged 2 s later, once', async () => {
    const server = await ScriptedServer.start();
    server.stream = (res) => openStream(res, `retry: 50\n\n${OPEN('s1')}id: 1\ndata: "a"\n\nid: 2\ndata: "b"\n\n`);
    const { socket, received } = await opened(server);
    await until(() => received.length >= 2, 'two messages');
    const started = Date.now();
    await until(() => server.posts().length >= 1, 'the ack', 4000);
    expect(Date.now() - started).toBeGreaterThan(1500);
    expect(server.posts()[0]!.json).toEqual({ seq: 0, frames: [], ack: 2 });
    // Acknowledged once: no second ack after another 2 s period.
    await quietFor(2500);
    expect(server.posts()).toHaveLength(1);
    socket.close();
  }, 10_000);

  it('batches frames up to about 64 KiB per POST; a larger message goes alone, and seq still counts frames', async () => {
    const server = await ScriptedServer.start();
    const { socket } = await opened(server);
    const messages = ['s'.repeat(30_000), 's'.repeat(30_000), 's'.repeat(30_000), 'L'.repeat(200_000), 't'];
    for (const message of messages) socket.send(message);
    await until(
      () => server.posts().reduce((n, post) => n + post.json.frames.length, 0) === messages.length,
      'every frame',
    );
    const posts = server.posts().map((post) => ({
      seq: post.json.seq,
      sizes: post.json.frames.map((frame) => (frame as [string, string])[1].length),
    }));
    for (const post of posts)
      expect(post.sizes.length === 1 || post.sizes.reduce((a, b) => a + b, 0) <= 64 * 1024).toBe(true);
    expect(posts.flatMap((post) => post.sizes)).toEqual(messages.map((message) => message.length));
    let seq = 0;
    for (const post of posts) {
      expect(post.seq).toBe(seq);
      seq += post.sizes.length;
    }
    expect(posts.length).toBeGreaterThanOrEqual(3);
    socket.close();
  });
});
