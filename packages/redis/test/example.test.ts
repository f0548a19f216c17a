// The chat demo as two processes on two ports sharing one Redis: users on different processes
// chat together.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { messages, openWs } from '../../../test/helpers.js';
import { RedisServer } from './redis-server.js';

let redis: RedisServer;
const children: Array<ReturnType<typeof spawn>> = [];
beforeAll(async () => { redis = await RedisServer.start(); });
afterAll(async () => {
  for (const child of children) child.kill('SIGTERM');
  await redis.stop();
});

async function startDemo(): Promise<number> {
  const file = fileURLToPath(new URL('../../../examples/express-chat/server.js', import.meta.url));
  const child = spawn(process.execPath, [file], { env: { ...process.env, PORT: '0', REDIS_URL: redis.url }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let output = '';
  child.stdout.on('data', (d: Buffer) => { output += d.toString(); });
  child.stderr.on('data', (d: Buffer) => { output += d.toString(); });
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
  // Wait until bob's process has subscribed: ann sees bob's join, relayed through Redis.
  let event: { type: string; name?: string; text?: string } = { type: '' };
  while (!(event.type === 'join' && event.name === 'bob')) event = JSON.parse((await annInbox.next(5000)).data.toString());
  ann.send('hi bob, from the other process');
  while (event.type !== 'message') event = JSON.parse((await bobInbox.next(5000)).data.toString());
  expect(event).toMatchObject({ type: 'message', name: 'ann', text: 'hi bob, from the other process' });
  bob.send('hi ann');
  while (!(event.type === 'message' && event.name === 'bob')) event = JSON.parse((await annInbox.next(5000)).data.toString());
  expect(event.text).toBe('hi ann');
  // Exactly once: ann got her own message once (from her process), not again through Redis.
  await new Promise((resolve) => setTimeout(resolve, 200));
  const own = annInbox.all.map((m) => JSON.parse(m.data.toString())).filter((e) => e.type === 'message' && e.name === 'ann');
  expect(own).toHaveLength(1);
  ann.close();
  bob.close();
}, 30_000);
