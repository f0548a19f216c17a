// The close codes of a resuming WebSocket and the "reset" answer to a connected one
// (recovery/sessions.ts, recovery/replay.ts, recovery/state.ts): the cases of docs/recovery.md's
// tables that the Redis suites cannot reach at a chosen moment: a binary token, no token in time,
// a replay that fails half-way or falls too far behind live traffic, a count that goes back. The durable store is a stand-in whose
// answers the test chooses (as in recovery-store.test.ts); the clients are real ws sockets.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type WebSocket from 'ws';
import { createEndpoint, Hub } from '../src/index.js';
import type { DurableEntry, DurableStore, RecoveryOptions } from '../src/index.js';
import { openWs } from '../../../test/helpers.js';

const servers: http.Server[] = [];
const clients: WebSocket[] = [];
afterEach(async () => {
  vi.useRealTimers();
  for (const ws of clients.splice(0)) ws.terminate();
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

/** A durable hub whose store answers as the test says, and that can deliver stream entries as its reader would. */
class StandInHub extends Hub {
  readonly durable: DurableStore;
  constructor(store: Partial<DurableStore>) {
    super();
    this.durable = {
      position: () => undefined,
      check: async () => undefined,
      range: async () => [],
      keepSessions: async () => {},
      findSession: async () => undefined,
      reachable: () => true,
      ...store,
    };
  }
  /** A live entry read from the stream, delivered to this node's subscribers. */
  live(topic: string, entry: DurableEntry): void {
    this.deliver(topic, entry.payload, entry.isBinary, undefined, entry);
  }
}

const entry = (count: number): DurableEntry => ({
  id: `${count}-0`,
  epoch: 'e',
  count,
  payload: `m${count}`,
  isBinary: false,
  sender: '',
});

/** An endpoint at /ws that subscribes every connection to `feed`, with what `open` saw. */
async function serve(hub: Hub, recovery: RecoveryOptions = {}) {
  const opened: boolean[] = [];
  const endpoint = createEndpoint({
    hub,
    recovery,
    open(ws) {
      opened.push(ws.recovered);
      ws.subscribe('feed');
    },
  });
  const server = http.createServer((req, res) => void endpoint.handle(req, res));
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { base: `127.0.0.1:${(server.address() as AddressInfo).port}`, opened };
}

/** A WebSocket that announced a resume; `frames` collects what it gets, `closed` its close code and reason. */
async function resuming(base: string) {
  const ws = await openWs(`ws://${base}/ws?__sy_resume=1`);
  clients.push(ws);
  const frames: string[] = [];
  ws.on('message', (data) => frames.push(data.toString()));
  const closed = new Promise<[number, string]>((resolve) =>
    ws.once('close', (code, reason) => resolve([code, reason.toString()])),
  );
  return { ws, frames, closed };
}

/** Real time passing while setTimeout is faked: I/O goes on meanwhile. */
async function realDelay(ms: number): Promise<void> {
  const until = performance.now() + ms;
  while (performance.now() < until) await new Promise((resolve) => setImmediate(resolve));
}

const TOKEN = `\u0000sy:resume${JSON.stringify({ s: 'AAAAAAAAAAAAAAAAAAAAAA', p: { feed: ['1-0', 'e', 1] } })}`;

describe('1008 on a resuming connection', () => {
  it('a malformed token is refused with 1008 and a reason that says what is wrong', async () => {
    const { base, opened } = await serve(new StandInHub({}));
    const { ws, closed } = await resuming(base);
    ws.send('\u0000sy:resume{"s":null}');
    expect(await closed).toEqual([1008, 'malformed resume token: expected positions']);
    expect(opened).toEqual([]);
  });

  it('a binary first message is refused with 1008, even when its bytes are a well-formed token', async () => {
    const findSession = vi.fn(async () => '/ws');
    const { base, opened } = await serve(new StandInHub({ findSession }));
    const { ws, closed } = await resuming(base);
    ws.send(Buffer.from(TOKEN), { binary: true });
    expect(await closed).toEqual([1008, 'The resume token must be text']);
    expect(findSession).not.toHaveBeenCalled();
    expect(opened).toEqual([]);
  });

  it('no token within 10 s: 1008 at 10 s, not before (fake timers on the server side)', async () => {
    const { base, opened } = await serve(new StandInHub({}));
    // Only setTimeout is faked, from before the handshake, so that the server's token timer is
    // a fake one; the sockets use Node's internal timers and stay real.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const { ws, closed } = await resuming(base);
    let code: number | undefined;
    void closed.then(([got]) => (code = got));
    // The server set its timer before its 101, so before the client's 'open'.
    vi.advanceTimersByTime(9_999);
    await realDelay(300);
    expect([code, ws.readyState]).toEqual([undefined, 1]);
    vi.advanceTimersByTime(1);
    expect(await closed).toEqual([1008, 'No resume token']);
    expect(opened).toEqual([]);
  });
});

describe('1013 on a resuming connection', () => {
  /** A known session at /ws whose node has read `feed` up to entry `at`; the client is at entry 1. */
  const resumable = (at: number, range: DurableStore['range']) =>
    new StandInHub({
      findSession: async () => '/ws',
      position: () => ({ id: `${at}-0`, epoch: 'e', count: at }),
      range,
    });

  it('a replay that fails half-way: 1013 after what was replayed, before the session frame', async () => {
    // Entries 2..5 are missed: the first page brings entry 2, the next read fails.
    const range = vi.fn<DurableStore['range']>(async (_topic, after) =>
      after === '1-0' ? [entry(2)] : Promise.reject(new Error('connection lost')),
    );
    const { base, opened } = await serve(resumable(5, range));
    const { ws, frames, closed } = await resuming(base);
    ws.send(TOKEN);
    expect(await closed).toEqual([1013, 'Replay failed; resume again']);
    expect(opened).toEqual([true]);
    expect(range).toHaveBeenCalledTimes(2);
    // What was replayed came; no position and no session frame, so the client resumes from entry 2.
    expect(frames).toEqual([`\u0000sy:m${JSON.stringify(['feed', '2-0', 'e', 2])}\nm2`]);
  });

  it('a replay that falls more than 10,000 live entries behind: 1013 at the 10,001st, not before', async () => {
    // The replay's first read never ends, so every live entry is held.
    const hub = resumable(5, () => new Promise<never>(() => {}));
    const { base, opened } = await serve(hub);
    const { ws, frames, closed } = await resuming(base);
    ws.send(TOKEN);
    await vi.waitFor(() => expect(opened).toEqual([true]));
    let code: number | undefined;
    void closed.then(([got]) => (code = got));
    for (let count = 6; count < 6 + 10_000; count++) hub.live('feed', entry(count));
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect([code, ws.readyState, frames]).toEqual([undefined, 1, []]);
    hub.live('feed', entry(6 + 10_000));
    expect(await closed).toEqual([1013, 'Replay fell behind; resume again']);
    // Nothing held was sent: the client resumes from where it was.
    expect(frames).toEqual([]);
  });
});

describe('"reset" to a connected client', () => {
  it('a count that goes back (Redis lost its last writes) or a new epoch (the stream was lost) is told before the message', async () => {
    const hub = new StandInHub({ position: () => ({ id: '5-0', epoch: 'e', count: 5 }) });
    const { base, opened } = await serve(hub);
    const { ws, frames } = await resuming(base);
    ws.send(`\u0000sy:resume${JSON.stringify({ s: null, p: {} })}`);
    await vi.waitFor(() => expect(frames.some((frame) => frame.startsWith('\u0000sy:session'))).toBe(true));
    expect(opened).toEqual([false]);
    frames.length = 0;
    const message = (id: string, epoch: string, count: number): string =>
      `\u0000sy:m${JSON.stringify(['feed', id, epoch, count])}\nm${count}`;
    const reset = `\u0000sy:unrecoverable${JSON.stringify({ topic: 'feed', reason: 'reset' })}`;
    hub.live('feed', entry(6));
    // The writes after entry 5 were lost: the next entry has a newer id but the count 6 again.
    hub.live('feed', { ...entry(6), id: '8-0' });
    // The stream was lost and started again: another epoch (with a count that alone would
    // follow on, so that only the epoch tells).
    hub.live('feed', { ...entry(7), id: '9-0', epoch: 'f' });
    await vi.waitFor(() => expect(frames).toHaveLength(5));
    expect(frames).toEqual([message('6-0', 'e', 6), reset, message('8-0', 'e', 6), reset, message('9-0', 'f', 7)]);
  });
});
