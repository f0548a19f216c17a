// 2,000 SSE sessions under a short heartbeat, answering every ping with a POST on a new connection
// (`Connection: close`, the costliest way): none dropped, about one ping per interval each, memory bounded. Alone on
// the machine (*.serial.test.ts), the server in a process of its own.
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { openRawSession, postRaw } from './raw-sse.js';
import type { RawEvent, RawSession } from './raw-sse.js';

const SESSIONS = 2000;
const INTERVAL = 3000;
const TIMEOUT = 3000;
/** How long the sessions are held after the last one opened: two intervals, then three more. */
const SETTLE = 2 * INTERVAL;
const HELD = 5 * INTERVAL;

const child = fork(
  fileURLToPath(new URL('./heartbeat-server.mjs', import.meta.url)),
  [String(INTERVAL), String(TIMEOUT)],
  {
    execArgv: ['--expose-gc', '--max-old-space-size=256'],
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  },
);
afterAll(() => {
  child.kill();
});
let nextCall = 0;
const calls = new Map<number, (result: any) => void>();
const ready = new Promise<number>((resolve) => {
  child.on('message', (message: { type?: string; port?: number; id?: number; result?: unknown }) => {
    if (message.type === 'ready') resolve(message.port!);
    else calls.get(message.id!)?.(message.result);
  });
});
const call = <T>(cmd: string): Promise<T> =>
  new Promise((resolve) => {
    const id = nextCall++;
    calls.set(id, resolve);
    child.send({ id, cmd });
  });

describe('the heartbeat with 2,000 SSE sessions', () => {
  it('drops none of them, pings each about once per interval and holds them in bounded memory', async () => {
    const port = await ready;
    const baseline = await call<number>('memory');
    const sessions: RawSession[] = [];
    const pings: number[] = [];
    const failedPongs: number[] = [];
    const latencies: number[] = [];
    // Opened as fast as the server takes them, 100 at a time: a reconnect storm.
    const answer = (session: RawSession, event: RawEvent): void => {
      if (event.type !== 'ping') return;
      pings.push(event.at);
      void postRaw(port, '/hb', session, [['pong', event.data]]).then((status) => {
        latencies.push(performance.now() - event.at);
        if (status !== 204) failedPongs.push(status);
      });
    };
    for (let i = 0; i < SESSIONS; i += 100) {
      // Answering from its `open` on: the first ping may come at once.
      sessions.push(...(await Promise.all(Array.from({ length: 100 }, () => openRawSession(port, '/hb', {}, answer)))));
    }
    const opened = performance.now();
    const afterOpen = await call<number>('memory');
    await new Promise((resolve) => setTimeout(resolve, SETTLE));
    const settled = await call<number>('memory');
    const pingsSettled = pings.length;
    await new Promise((resolve) => setTimeout(resolve, opened + HELD - performance.now()));
    const stats = await call<{ open: number; closes: Record<string, number>; replayBytes: number }>('stats');
    const afterHeld = await call<number>('memory');
    for (const session of sessions) session.socket.destroy();

    latencies.sort((x, y) => x - y);
    const slowest = `pong POSTs answered within ${Math.round(latencies.at(-1) ?? 0)} ms of their ping (the timeout: ${TIMEOUT})`;
    expect(stats.closes, slowest).toEqual({});
    expect(stats.open).toBe(SESSIONS);
    expect(sessions.filter((session) => session.ended)).toHaveLength(0);
    expect(failedPongs).toEqual([]);
    // Every session pinged, about once per interval: over the held time, 5 intervals' worth.
    const held = pings.filter((at) => at >= opened);
    expect(held.length).toBeGreaterThanOrEqual(SESSIONS * 4);
    expect(held.length).toBeLessThanOrEqual(SESSIONS * 6);
    // Memory: a session's heap after GC, and no growth while pings come and go once the server
    // has settled (each pong acknowledges its ping, so nothing is kept for replay).
    const perPing = (afterHeld - settled) / (pings.length - pingsSettled);
    console.log(
      `${SESSIONS} SSE sessions: heap ${((afterOpen - baseline) / SESSIONS / 1024).toFixed(1)} KiB each after opening; ${perPing.toFixed(0)} B per ping over the last ${pings.length - pingsSettled} pings, ${stats.replayBytes} B kept for replay; ${slowest}`,
    );
    expect((afterOpen - baseline) / SESSIONS).toBeLessThan(24 * 1024);
    // The heap after GC moves by about ±150 B per ping here from one run to the next: a request
    // or response kept per ping (kilobytes) shows, a kept event needs the replay count below.
    expect(perPing).toBeLessThan(512);
    // What the server keeps for replay: only pings whose pong is still on its way.
    expect(stats.replayBytes).toBeLessThan(SESSIONS * 64);
  }, 120_000);
});
