// A resume against a durable store that is down, or that fails part-way (recovery/): a refusal
// the client can retry (503 with Retry-After before the 101 or the stream, 1013 after the 101),
// never a session that opens without its gap. The store here is a stand-in whose failures the
// test chooses, since a real Redis fails at moments a test cannot pick; test/recovery-outage
// runs the same paths against a real redis-server that is killed.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type WebSocket from 'ws';
import { createEndpoint, createHub } from '../src/index.js';
import type { DurableStore, Handlers, RejectionInfo } from '../src/index.js';
import type { Hub } from '../src/hub/hub.js';
import { openWs } from '../../../test/helpers.js';

const servers: http.Server[] = [];
const clients: WebSocket[] = [];
afterEach(async () => {
  for (const ws of clients.splice(0)) ws.terminate();
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

/** A hub whose durable store answers as `store` says: by default, empty and reachable. */
function hubWith(store: Partial<DurableStore>): Hub {
  const durable: DurableStore = {
    position: () => undefined,
    check: async () => undefined,
    range: async () => [],
    keepSessions: async () => {},
    findSession: async () => undefined,
    ...store,
  };
  return Object.assign(createHub(), { durable });
}

/** An endpoint at /ws on a recoverable hub, with what its hooks saw. */
async function serve(hub: Hub, options: Partial<Handlers> = {}) {
  const opened: boolean[] = [];
  const rejected: RejectionInfo[] = [];
  const endpoint = createEndpoint({
    hub,
    recovery: {},
    fallback: {},
    open(ws) {
      opened.push(ws.recovered);
      ws.subscribe('feed');
    },
    rejected: (info) => void rejected.push(info),
    ...options,
  });
  const server = http.createServer((req, res) => void endpoint.handle(req, res));
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { base, opened, rejected, endpoint };
}

const TOKEN = { s: 'AAAAAAAAAAAAAAAAAAAAAA', p: { feed: ['1-0', 'e', 1] } };
const SSE_HEADERS = {
  accept: 'text/event-stream',
  'x-switchyard-resume': Buffer.from(JSON.stringify(TOKEN)).toString('base64url'),
};

/** Resumes over a WebSocket: every frame it got until it closed (code) or got its session frame (no code). */
async function resumeWs(base: string): Promise<{ frames: string[]; code: number | undefined }> {
  const ws: WebSocket = await openWs(`ws://${base}/ws?__sy_resume=1`);
  clients.push(ws);
  const frames: string[] = [];
  const ended = new Promise<number | undefined>((resolve) => {
    ws.on('message', (data) => {
      frames.push(data.toString());
      if (data.toString().startsWith('\u0000sy:session')) resolve(undefined);
    });
    ws.once('close', (code) => resolve(code));
  });
  ws.send(`\u0000sy:resume${JSON.stringify(TOKEN)}`);
  return { frames, code: await ended };
}

describe('a resume while the durable store is down', () => {
  it('known down (reachable() is false): 503 with Retry-After before the 101 and before the stream, reaching `rejected`', async () => {
    const findSession = vi.fn(async () => '/ws');
    const { base, opened, rejected } = await serve(hubWith({ reachable: () => false, findSession }));
    const answer = await new Promise<http.IncomingMessage>((resolve) =>
      http
        .get(`http://${base}/ws?__sy=1&__sy_resume=1`, {
          headers: {
            connection: 'Upgrade',
            upgrade: 'websocket',
            'sec-websocket-version': '13',
            'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
          },
        })
        .once('response', resolve)
        // A 101 is an 'upgrade', not a 'response'.
        .once('upgrade', (response, socket) => {
          socket.destroy();
          resolve(response);
        }),
    );
    expect([answer.statusCode, answer.headers['retry-after']]).toEqual([503, '1']);
    const sse = await fetch(`http://${base}/ws?__sy=sse`, { headers: SSE_HEADERS });
    expect([sse.status, sse.headers.get('retry-after')]).toEqual([503, '1']);
    expect(rejected.map((info) => [info.status, info.path])).toEqual([
      [503, '/ws'],
      [503, '/ws'],
    ]);
    // Nothing was asked of the store, and nothing opened.
    expect(findSession).not.toHaveBeenCalled();
    expect(opened).toEqual([]);
  });

  it('a store without reachable() counts as reachable', async () => {
    const { base, opened } = await serve(
      hubWith({ findSession: async () => '/ws', position: () => ({ id: '1-0', epoch: 'e', count: 1 }) }),
    );
    const ws = await openWs(`ws://${base}/ws?__sy_resume=1`);
    ws.send(`\u0000sy:resume${JSON.stringify(TOKEN)}`);
    await vi.waitFor(() => expect(opened).toEqual([true]));
    ws.close();
  });

  it('a store that never answers findSession: 1013 once the token wait runs out, never 1008 for a token the client did send', async () => {
    let asked = 0;
    const { base, opened } = await serve(
      hubWith({ reachable: () => true, findSession: () => ((asked += 1), new Promise<undefined>(() => {})) }),
    );
    // Only the timers: the sockets stay real. The token wait (10 s) is started after this.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    try {
      const resumed = resumeWs(base);
      await vi.waitFor(() => expect(asked).toBe(1));
      vi.advanceTimersByTime(10_001);
      const { code, frames } = await resumed;
      expect(code).toBe(1013);
      expect(frames.filter((frame) => frame.startsWith('\u0000sy:session'))).toEqual([]);
      expect(opened).toEqual([]);
    } finally {
      vi.useRealTimers();
    }
  });

  it('failing after the 101 (findSession rejects): closed with 1013 before `open` (kept: the store failed only after the check)', async () => {
    const { base, opened } = await serve(
      hubWith({ reachable: () => true, findSession: async () => Promise.reject(new Error('down')) }),
    );
    const { code, frames } = await resumeWs(base);
    expect(code).toBe(1013);
    expect(frames.filter((frame) => frame.startsWith('\u0000sy:session'))).toEqual([]);
    expect(opened).toEqual([]);
  });

  it("failing while a topic's position is read: 1013 before the session frame, never an 'expired' gap", async () => {
    // The session is known; the topic's position never comes (the store dropped meanwhile).
    const { base, opened } = await serve(hubWith({ reachable: () => true, findSession: async () => '/ws' }));
    const { code, frames } = await resumeWs(base);
    expect(opened).toEqual([true]);
    expect(code).toBe(1013);
    expect(frames.filter((frame) => frame.startsWith('\u0000sy:'))).toEqual([]);
  });

  it('failing while an SSE session is restored: 503 with Retry-After instead of a fresh session; its place is given back', async () => {
    const { base, opened, rejected } = await serve(
      hubWith({ reachable: () => true, findSession: async () => Promise.reject(new Error('down')) }),
      { maxConnections: 1 },
    );
    const refused = await fetch(`http://${base}/ws?__sy=sse`, { headers: SSE_HEADERS });
    expect([refused.status, refused.headers.get('retry-after')]).toEqual([503, '1']);
    expect(await refused.text()).toBe('The session store is unreachable; resume again later\n');
    expect(rejected.map((info) => info.status)).toEqual([503]);
    expect(opened).toEqual([]);
    // The one place under maxConnections is free again: a new session opens.
    const abort = new AbortController();
    const fresh = await fetch(`http://${base}/ws?__sy=sse`, {
      headers: { accept: 'text/event-stream' },
      signal: abort.signal,
    });
    expect(fresh.status).toBe(200);
    abort.abort();
  });
});
