// The demos are the README's main job: start each one as a user would and chat through it.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { closed, messages, openWs } from './helpers.js';

const demos = ['express-chat', 'koa-chat', 'fastify-chat']
  .map((name) => [name, fileURLToPath(new URL(`../examples/${name}/server.js`, import.meta.url))] as const)
  .filter(([, file]) => existsSync(file));

const children: Array<ReturnType<typeof spawn>> = [];
afterEach(() => {
  for (const child of children.splice(0)) child.kill('SIGTERM');
});

describe.each(demos)('%s demo', (_name, file) => {
  it('serves the page and two clients chat through the room, with subprotocol chat', async () => {
    const child = spawn(process.execPath, [file], {
      env: { ...process.env, PORT: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    let output = '';
    child.stdout!.on('data', (d: Buffer) => {
      output += d.toString();
    });
    child.stderr!.on('data', (d: Buffer) => {
      output += d.toString();
    });
    await expect.poll(() => /https?:\/\/[^\s]+:(\d+)/.test(output), { timeout: 10_000 }).toBe(true);
    const port = Number(/https?:\/\/[^\s]+:(\d+)/.exec(output)![1]);

    const page = await fetch(`http://127.0.0.1:${port}/`);
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain('new WebSocket(');
    expect(html).toContain("['chat']");

    const ann = await openWs(`ws://127.0.0.1:${port}/chat?name=ann`, ['soap', 'chat']);
    const bob = await openWs(`ws://127.0.0.1:${port}/chat?name=bob`, ['chat']);
    expect([ann.protocol, bob.protocol]).toEqual(['chat', 'chat']);
    const bobInbox = messages(bob);
    ann.send('hello bob');
    let said: { type: string; name?: string; text?: string } | undefined;
    while (said?.type !== 'message') said = JSON.parse((await bobInbox.next()).data.toString());
    expect(said).toMatchObject({ type: 'message', name: 'ann', text: 'hello bob' });

    await expect(openWs(`ws://127.0.0.1:${port}/chat`, ['soap'])).rejects.toThrow(/400/);
    const annClosed = closed(ann);
    child.kill('SIGTERM');
    expect((await annClosed).code).toBe(1001);
    expect(bob.readyState === WebSocket.CLOSING || bob.readyState === WebSocket.CLOSED).toBe(true);
  }, 20_000);
});
