/**
 * @switchyard/client when many clients come back at once (issue 24), against a real Express
 * endpoint on 127.0.0.1: the first reconnect after a mass close (1001, 1012, 1013) is spread over
 * `reconnect.spread`; a reconnect whose handshake is slow is not abandoned (the server sees one
 * handshake, not one per timeout); a 503 or 429 with Retry-After is honoured, spread at random,
 * on the WebSocket (ws shows the status) and on the SSE stream.
 */
import type { Connection } from '@switchyard/core';
import { connect } from '@switchyard/client';
import type { ConnectOptions, SwitchyardSocket, WebSocketConstructor } from '@switchyard/client';
import { WebSocket as UndiciWebSocket } from 'undici';
import { afterEach, describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import { expressHarness } from '../adapters.js';
import { start } from '../harness.js';
import type { GuardResult, Started } from '../harness.js';
import { delay, requireAssertions } from '../helpers.js';

const WS = WebSocket as unknown as WebSocketConstructor;
const UNDICI = UndiciWebSocket as unknown as WebSocketConstructor;

interface Handshake {
  at: number;
  /** 'websocket' for an upgrade, 'sse' for a fallback stream. */
  kind: 'websocket' | 'sse';
}

/** An Express endpoint that records every handshake its `upgrade` hook sees, and can be slow or refuse. */
async function server(options: { slow?: () => number; guard?: (kind: string, url: string) => GuardResult } = {}) {
  const handshakes: Handshake[] = [];
  const live = new Set<Connection>();
  const started: Started = await start(expressHarness, [
    {
      path: '/feed',
      guard: options.guard && ((req) => options.guard!(req.headers.upgrade ? 'websocket' : 'sse', req.url)),
      handlers: {
        heartbeat: false,
        async upgrade(req) {
          handshakes.push({ at: Date.now(), kind: req.raw.headers.upgrade ? 'websocket' : 'sse' });
          const ms = options.slow?.() ?? 0;
          if (ms > 0) await delay(ms);
        },
        open(ws) {
          live.add(ws);
        },
        close(ws) {
          live.delete(ws);
        },
      },
    },
  ]);
  servers.push(started);
  return {
    handshakes,
    live,
    url: started.url('/feed'),
    /** Closes every connection with `code` at once, as a node that restarts does. */
    closeAll(code: number): number {
      const at = Date.now();
      for (const ws of live) ws.close(code, 'going');
      return at;
    },
  };
}

const servers: Started[] = [];
const sockets: SwitchyardSocket[] = [];
afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.close();
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

function clients(url: string, count: number, options: ConnectOptions): SwitchyardSocket[] {
  const made = Array.from({ length: count }, () => connect(url, options));
  sockets.push(...made);
  return made;
}

const allOpen = (list: SwitchyardSocket[]) =>
  vi.waitFor(() => expect(list.filter((s) => s.readyState === s.OPEN)).toHaveLength(list.length), {
    timeout: 10_000,
    interval: 20,
  });

describe('@switchyard/client: the first reconnect after a mass close is spread', () => {
  requireAssertions();
  const SPREAD = 2000;
  const N = 60;

  for (const code of [1001, 1012, 1013]) {
    it(`after ${code}, ${N} clients closed together come back spread over [0, spread), not at once`, async () => {
      const s = await server();
      const list = clients(s.url, N, {
        WebSocket: WS,
        // initialDelay alone would bring them all back within 50 ms.
        reconnect: { initialDelay: 50, spread: SPREAD },
      });
      await allOpen(list);
      const before = s.handshakes.length;
      const closedAt = s.closeAll(code);
      await vi.waitFor(() => expect(s.handshakes.length - before).toBe(N), { timeout: 5000, interval: 20 });
      await allOpen(list);
      const offsets = s.handshakes
        .slice(before)
        .map((h) => h.at - closedAt)
        .sort((a, b) => a - b);
      // Uniform over 2 s, 60 draws: they span most of the window (an event loop stalled by a
      // loaded machine delays them all alike, hence the slack after it). Without the spread,
      // the backoff alone brings them back within 50 ms, seen here as 300 to 450 ms under load.
      expect(offsets.at(-1)! - offsets[0]!).toBeGreaterThan(1200);
      expect(offsets.at(-1)).toBeLessThan(SPREAD + 1500);
      // No burst: no 100 ms holds more than a third of them.
      const bins = new Map<number, number>();
      for (const offset of offsets) bins.set(Math.floor(offset / 100), (bins.get(Math.floor(offset / 100)) ?? 0) + 1);
      expect(Math.max(...bins.values())).toBeLessThan(N / 3);
      // One handshake each, all over WebSockets.
      expect(s.handshakes.slice(before).every((h) => h.kind === 'websocket')).toBe(true);
    });
  }

  it('a close that is not a mass close (1011) reconnects after the backoff alone, not over the spread', async () => {
    const s = await server();
    const list = clients(s.url, 20, { WebSocket: WS, reconnect: { initialDelay: 50, spread: 5000 } });
    await allOpen(list);
    const before = s.handshakes.length;
    const closedAt = s.closeAll(1011);
    await vi.waitFor(() => expect(s.handshakes.length - before).toBe(20), { timeout: 5000, interval: 20 });
    // Spread over 5 s, about 19 of them would come after 1.5 s.
    expect(Math.max(...s.handshakes.slice(before).map((h) => h.at - closedAt))).toBeLessThan(1500);
  });
});

describe('@switchyard/client: a reconnect whose handshake is slow is not abandoned', () => {
  requireAssertions();
  for (const [name, WebSocketClass] of [
    ['ws (the TCP connection is seen)', WS],
    ["undici (as a browser's: it is not)", UNDICI],
  ] as const) {
    it(`${name}: a 101 three times livenessTimeout late; the server sees one handshake, no SSE`, async () => {
      let slow = 0;
      const s = await server({ slow: () => slow });
      const [socket] = clients(s.url, 1, {
        WebSocket: WebSocketClass,
        livenessTimeout: 400,
        reconnect: { initialDelay: 50, spread: 0 },
      });
      await allOpen([socket!]);
      expect(s.handshakes).toHaveLength(1);
      // The node is now busy: every handshake takes 1.2 s.
      slow = 1200;
      const closedAt = s.closeAll(1012);
      await vi.waitFor(() => expect(socket!.readyState).toBe(socket!.CONNECTING), { timeout: 2000 });
      await vi.waitFor(() => expect(socket!.readyState).toBe(socket!.OPEN), { timeout: 5000, interval: 20 });
      expect(Date.now() - closedAt).toBeGreaterThanOrEqual(1200);
      expect(socket!.transport).toBe('websocket');
      // Abandoned at 400 ms, the attempt would have been followed by an SSE request, or another upgrade.
      await delay(300);
      expect(s.handshakes.map((h) => h.kind)).toEqual(['websocket', 'websocket']);
    });
  }
});

describe('@switchyard/client: a fallback during a restart is not for good', () => {
  requireAssertions();
  it('a reconnect that fell back to SSE while the node refused WebSockets tries a WebSocket again next time', async () => {
    let refuse = false;
    const s = await server({
      guard: (kind) => (refuse && kind === 'websocket' ? { status: 503, body: 'busy' } : undefined),
    });
    const [socket] = clients(s.url, 1, { WebSocket: WS, reconnect: { initialDelay: 50, spread: 0 } });
    await allOpen([socket!]);
    expect(socket!.transport).toBe('websocket');
    // A restart during which the node refuses upgrades: the client falls back to SSE...
    refuse = true;
    s.closeAll(1012);
    await vi.waitFor(() => expect([socket!.readyState, socket!.transport]).toEqual([socket!.OPEN, 'sse']), {
      timeout: 5000,
      interval: 20,
    });
    // ...and after the next restart, with upgrades back, it is on a WebSocket again.
    refuse = false;
    s.closeAll(1012);
    await vi.waitFor(() => expect([socket!.readyState, socket!.transport]).toEqual([socket!.OPEN, 'websocket']), {
      timeout: 5000,
      interval: 20,
    });
  });
});

describe('@switchyard/client: a first connection keeps the short timeout', () => {
  requireAssertions();
  it('a first connection still falls back to SSE at livenessTimeout when the 101 does not come', async () => {
    const s = await server({ slow: () => 2000 });
    const [socket] = clients(s.url, 1, { WebSocket: WS, livenessTimeout: 400 });
    await vi.waitFor(() => expect(s.handshakes.map((h) => h.kind)).toEqual(['websocket', 'sse']), {
      timeout: 3000,
      interval: 20,
    });
    // Server-side times: the first handshake reached the hook a little after the client's timer started.
    expect(s.handshakes[1]!.at - s.handshakes[0]!.at).toBeGreaterThanOrEqual(300);
    expect(s.handshakes[1]!.at - s.handshakes[0]!.at).toBeLessThan(1500);
    expect(socket!.transport).toBe('sse');
  });
});

describe('@switchyard/client: Retry-After on 503 and 429 is honoured, with jitter', () => {
  requireAssertions();
  const N = 24;
  for (const status of [503, 429]) {
    for (const transport of ['websocket', 'sse'] as const) {
      const where = transport === 'websocket' ? 'WebSocket handshake (ws)' : 'SSE stream';
      it(`${status} on the ${where}: ${N} clients refused together come back after 1 to 2 s, spread`, async () => {
        /** Per client (`?c=`), when each of its requests came. */
        const requests = new Map<string, number[]>();
        let refusing = true;
        const s = await server({
          guard: (_kind, url) => {
            const client = new URL(url, 'http://x').searchParams.get('c')!;
            requests.set(client, [...(requests.get(client) ?? []), Date.now()]);
            return refusing ? { status, headers: { 'Retry-After': '1' }, body: 'later' } : undefined;
          },
        });
        const list = Array.from({ length: N }, (_, i) =>
          connect(`${s.url}?c=${i}`, {
            WebSocket: WS,
            transports: [transport],
            reconnect: { initialDelay: 20, maxDelay: 50 },
          }),
        );
        sockets.push(...list);
        await vi.waitFor(() => expect(requests.size).toBe(N), { timeout: 3000, interval: 10 });
        refusing = false;
        await allOpen(list);
        // Each client: refused once, then back after what was asked, up to twice that (jitter 1).
        // The backoff alone would have retried within 50 ms.
        const waits = [...requests.values()].map((times) => {
          expect(times).toHaveLength(2);
          return times[1]! - times[0]!;
        });
        expect(Math.min(...waits)).toBeGreaterThanOrEqual(1000 - 5);
        expect(Math.max(...waits)).toBeLessThan(2000 + 1000);
        // Spread over the jitter window, not in lockstep at 1 s: 24 uniform draws over 1 s.
        expect(Math.max(...waits) - Math.min(...waits)).toBeGreaterThan(400);
        for (const socket of list) expect(socket.transport).toBe(transport);
      });
    }
  }
});
