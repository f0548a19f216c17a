/**
 * The heartbeat over the SSE fallback, on a real framework and raw sockets: the pong is a POST,
 * any POST of the session's owner counts as one, and a client that is gone is still dropped.
 *
 *   runFallbackHeartbeat(expressHarness);
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { CloseEvent, Handlers } from '@switchyard/core';
import { connect } from '@switchyard/client';
import type { SwitchyardSocket } from '@switchyard/client';
import { start } from '../harness.js';
import type { Harness, Started } from '../harness.js';
import { answerPings, openRawSession, postRaw } from './raw-sse.js';
import type { RawSession } from './raw-sse.js';

/** An endpoint with the heartbeat `interval`/`timeout` that records opens and closes. */
function recording(interval: number, timeout: number) {
  const closes: Array<CloseEvent & { at: number }> = [];
  let opened = 0;
  const handlers: Handlers<undefined> = {
    heartbeat: { interval, timeout },
    open() {
      opened++;
    },
    close(_ws, event) {
      closes.push({ ...event, at: performance.now() });
    },
  };
  return { handlers, closes, opened: () => opened };
}

export function runFallbackHeartbeat(harness: Harness): void {
  describe(`${harness.name}: the heartbeat over SSE + POST`, () => {
    const servers: Started[] = [];
    const sessions: RawSession[] = [];
    const sockets: SwitchyardSocket[] = [];
    afterEach(async () => {
      for (const socket of sockets.splice(0)) socket.close();
      for (const session of sessions.splice(0)) session.socket.destroy();
      await Promise.all(servers.splice(0).map((server) => server.close()));
    });
    const serve = async (handlers: Handlers<undefined>, count?: { posts: number }): Promise<Started> => {
      const started = await start(harness, [
        {
          path: '/hb',
          handlers,
          guard: (req) => {
            if (count && req.url.includes('__sy=post')) count.posts++;
            return undefined;
          },
        },
      ]);
      servers.push(started);
      return started;
    };
    const open = async (port: number, headers?: Record<string, string>): Promise<RawSession> => {
      const session = await openRawSession(port, '/hb', headers);
      sessions.push(session);
      return session;
    };

    it('a session whose client answers its pings by POST stays; one that stops answering is dropped (1006)', async () => {
      const { handlers, closes } = recording(100, 100);
      const { port } = await serve(handlers);
      const answering = await open(port);
      const silent = await open(port);
      answerPings(port, '/hb', answering);
      await vi.waitFor(() => expect(silent.events.some((event) => event.type === 'ping')).toBe(true), {
        timeout: 5000,
      });
      await vi.waitFor(() => expect(closes).toHaveLength(1), { timeout: 5000 });
      expect(closes[0]!.code).toBe(1006);
      await vi.waitFor(() => expect(silent.ended).toBe(true));
      // The answering one went through several pings meanwhile and is still open.
      await vi.waitFor(() => expect(answering.events.filter((e) => e.type === 'ping').length).toBeGreaterThan(3), {
        timeout: 5000,
      });
      expect(answering.ended).toBe(false);
      expect(closes).toHaveLength(1);
    });

    it('a session that POSTs (messages or bare acknowledgements) more often than the interval is never pinged', async () => {
      const { handlers, closes } = recording(300, 300);
      const { port } = await serve(handlers);
      const busy = await open(port);
      const acking = await open(port);
      const started = performance.now();
      // Five intervals of POSTs every 100 ms: one sends messages, the other only acknowledges.
      while (performance.now() - started < 1500) {
        expect(await postRaw(port, '/hb', busy, [['t', 'hello']])).toBe(204);
        expect(await postRaw(port, '/hb', acking, [])).toBe(204);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      // A session's first ping falls at a random point of its first interval (the spread), so one
      // may come before its first POST when opening the other session took a while; after that,
      // none: the POSTs are its pongs. Without them: a ping each interval, and dropped.
      expect(busy.events.filter((event) => event.type === 'ping').length).toBeLessThanOrEqual(1);
      expect(acking.events.filter((event) => event.type === 'ping').length).toBeLessThanOrEqual(1);
      expect(closes).toEqual([]);
      // Quiet from now on: pinged, and (unanswered) dropped.
      await vi.waitFor(() => expect(closes).toHaveLength(2), { timeout: 5000 });
      expect(busy.events.some((event) => event.type === 'ping')).toBe(true);
    });

    it("another client's POSTs with the stolen session id (403) do not keep a silent session alive", async () => {
      const { handlers, closes } = recording(150, 150);
      const { port } = await serve(handlers);
      const victim = await open(port, { Authorization: 'Bearer victim' });
      const statuses: number[] = [];
      const attack = setInterval(() => {
        void postRaw(port, '/hb', victim, [['pong', '']], { Authorization: 'Bearer mallory' }).then((status) =>
          statuses.push(status),
        );
      }, 30);
      try {
        await vi.waitFor(() => expect(closes).toHaveLength(1), { timeout: 5000 });
      } finally {
        clearInterval(attack);
      }
      expect(closes[0]!.code).toBe(1006);
      // 403 while the session lived, 404 for those that arrived after it was dropped.
      expect(statuses.filter((status) => status === 403).length).toBeGreaterThan(3);
      expect(statuses.filter((status) => status !== 403 && status !== 404)).toEqual([]);
    });

    it('@switchyard/client answers each ping with one POST: the pong carries its acknowledgement', async () => {
      // An interval longer than the client's 2 s acknowledgement delay: with the acknowledgement
      // in a POST of its own, every ping cost two.
      const { handlers, closes } = recording(2500, 2000);
      let pongs = 0;
      const count = { posts: 0 };
      const { port } = await serve({ ...handlers, pong: () => void pongs++ }, count);
      const socket = connect(`ws://127.0.0.1:${port}/hb`, {
        WebSocket: undefined,
        livenessTimeout: 5000,
        reconnect: { initialDelay: 50, maxDelay: 200 },
      });
      sockets.push(socket);
      await vi.waitFor(() => expect(pongs).toBeGreaterThanOrEqual(3), { timeout: 15_000, interval: 50 });
      // Two seconds after the third pong, when a separate acknowledgement would have come.
      await new Promise((resolve) => setTimeout(resolve, 2300));
      expect(count.posts).toBe(pongs);
      expect(closes).toEqual([]);
    }, 20_000);
  });
}
