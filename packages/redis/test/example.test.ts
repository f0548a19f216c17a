// The chat demo as two processes on two ports sharing one Redis: users on different processes
// chat together.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { messages, openWs } from '../../../test/helpers.js';
import { RedisServer } from './redis-server.js';

let redis: RedisServer;
const children: Array<ReturnType<typeof spawn>> = [];
beforeAll(async () => {
  redis = await RedisServer.start();
});
afterAll(async () => {
  for (const child of children) child.kill('SIGTERM');
  await redis.stop();
});

async function startDemo(): Promise<number> {
  const file = fileURLToPath(new URL('../../../examples/express-chat/server.js', import.meta.url));
  const child = spawn(process.execPath, [file], {
    env: { ...process.env, PORT: '0', REDIS_URL: redis.url },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let output = '';
  child.stdout.on('data', (d: Buffer) => {
    output += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => {
    output += d.toString();
  });
  await expect.poll(() => /:(\d+)\s*$/m.test(output), { timeout: 10_000 }).toBe(true);
  return Number(/:(\d+)\s*$/m.exec(output)![1]);
}

it('two demo processes on two ports share one chat room through Redis', async () => {
  const [portA, portB] = await Promise.all([startDemo(), startDemo()]);
  expect(portA).not.toBe(portB);
  const ann = await openWs(`ws://127.0.0.1:${portA}/chat?name=ann`, ['chat']);
  const bob = await openWs(`ws://127.0.0.1:${portB}/chat?name=bob`, ['chat']);
  const bobInbox = messages(bob);
  const annInbox = messages(ann);
  // Both processes subscribe to Redis asynchronously: probe until a message crosses.
  type ChatEvent = { type: string; name?: string; text?: string };
  const said = (inbox: typeof bobInbox, name: string, text: string): boolean =>
    inbox.all.some((m) => {
      const e = JSON.parse(m.data.toString()) as ChatEvent;
      return e.type === 'message' && e.name === name && e.text === text;
    });
  await vi.waitFor(
    () => {
      ann.send('probe');
      expect(said(bobInbox, 'ann', 'probe')).toBe(true);
    },
    { timeout: 10_000, interval: 200 },
  );
  ann.send('hi bob, from the other process');
  await vi.waitFor(() => expect(said(bobInbox, 'ann', 'hi bob, from the other process')).toBe(true), { timeout: 5000 });
  let event: ChatEvent = { type: '' };
  bob.send('hi ann');
  while (!(event.type === 'message' && event.name === 'bob'))
    event = JSON.parse((await annInbox.next(5000)).data.toString());
  expect(event.text).toBe('hi ann');
  // Exactly once: each of ann's messages reached her (from her own process) and bob once, not
  // again through Redis.
  await new Promise((resolve) => setTimeout(resolve, 200));
  const count = (inbox: typeof bobInbox, text: string): number =>
    inbox.all.filter((m) => (JSON.parse(m.data.toString()) as ChatEvent).text === text).length;
  expect([
    count(annInbox, 'hi bob, from the other process'),
    count(bobInbox, 'hi bob, from the other process'),
  ]).toEqual([1, 1]);
  expect([count(annInbox, 'hi ann'), count(bobInbox, 'hi ann')]).toEqual([1, 1]);
  ann.close();
  bob.close();
}, 30_000);
