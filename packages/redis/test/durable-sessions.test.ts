/**
 * Recovery's sessions in a real Redis (`<prefix>session:<id>`): a token whose session is unknown,
 * or ended more than `maxDisconnectionDuration` ago, resumes nothing and is told `expired` for
 * each topic. The window is the shortest allowed (1 s), so the file waits about 2 s.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { websocket } from '@switchyard/express';
import { redisHub } from '@switchyard/redis';
import { delay, openWs } from '../../../test/helpers.js';
import { RedisServer } from './redis-server.js';

let redis: RedisServer;
beforeAll(async () => {
  redis = await RedisServer.start();
});
afterAll(async () => {
  await redis.stop();
});

interface Session {
  id: string;
  recovered: boolean;
  unrecoverable: Array<{ topic: string; reason: string }>;
}

it('a session unknown, or ended more than maxDisconnectionDuration ago, resumes nothing: "expired" for each topic', async () => {
  const hub = redisHub({ url: redis.url, prefix: 'sessions:', durable: {} });
  await hub.ready();
  const app = express();
  app.use(
    '/feed',
    websocket({
      hub,
      heartbeat: false,
      recovery: { maxDisconnectionDuration: 1000 },
      open(ws) {
        ws.subscribe('feed');
      },
    }),
  );
  const server = http.createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  try {
    /** Presents `token`, returns the session frame, and closes (the session's window starts then). */
    const present = async (token: unknown): Promise<Session> => {
      const ws = await openWs(`ws://127.0.0.1:${port}/feed?__sy=1&__sy_resume=1`);
      let session: Session | undefined;
      ws.on('message', (data) => {
        const text = data.toString();
        if (text.startsWith('\u0000sy:session')) session = JSON.parse(text.slice('\u0000sy:session'.length));
      });
      ws.send(`\u0000sy:resume${JSON.stringify(token)}`);
      await vi.waitFor(() => expect(session).toBeDefined(), { timeout: 5000 });
      const closed = new Promise((resolve) => ws.once('close', resolve));
      ws.close();
      await closed;
      return session!;
    };
    const at = { feed: ['0-0', '', 0] };
    const expired = { recovered: false, unrecoverable: [{ topic: 'feed', reason: 'expired' }] };

    // Unknown: never issued.
    expect(await present({ s: 'AAAAAAAAAAAAAAAAAAAAAA', p: at })).toMatchObject(expired);

    const { id } = await present({ s: null, p: {} });
    // Within the window (it starts when the connection ends): resumed.
    await delay(300);
    expect(await present({ s: id, p: at })).toMatchObject({ id, recovered: true, unrecoverable: [] });
    // Past it (1 s after that connection ended, plus a margin): a new session, told `expired`.
    // One attempt only: a resume within the window would start it again.
    await delay(1500);
    const late = await present({ s: id, p: at });
    expect(late).toMatchObject(expired);
    expect(late.id).not.toBe(id);
  } finally {
    server.closeAllConnections();
    server.close();
    await hub.close();
  }
});
