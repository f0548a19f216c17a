/**
 * A Nest guard's refusal as Chromium meets it: the handshake fails with the guard's status, as
 * the bytes on the server's sockets show, and no 101 is ever written. (Chromium reports a 401
 * without WWW-Authenticate as "HTTP Authentication failed", the others by their code.)
 */
import type { Socket } from 'node:net';
import { chromium } from 'playwright-core';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { PeerModule, startApp } from './app.js';

let browser: Browser;
beforeAll(async () => {
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
  });
}, 30_000);
afterAll(() => browser?.close());

it('Chromium: the gateway guard refuses the handshake with 401 (thrown) and 403 (false) on the wire, never a 101', async () => {
  const { app, port } = await startApp('express', undefined, PeerModule);
  const wire: string[] = [];
  app.getHttpServer().on('connection', (socket: Socket) => {
    const record = (chunk: unknown): void => {
      const text = Buffer.isBuffer(chunk) ? chunk.toString('latin1', 0, 40) : typeof chunk === 'string' ? chunk : '';
      if (text.startsWith('HTTP/1.1 ')) wire.push(text.slice(0, text.indexOf('\r\n')));
    };
    const { write, end } = socket;
    socket.write = function (this: Socket, chunk: unknown, ...rest: unknown[]) {
      record(chunk);
      return (write as (...args: unknown[]) => boolean).call(this, chunk, ...rest);
    } as Socket['write'];
    socket.end = function (this: Socket, chunk?: unknown, ...rest: unknown[]) {
      record(chunk);
      return (end as (...args: unknown[]) => Socket).call(this, chunk, ...rest);
    } as Socket['end'];
  });
  const page = await browser.newPage();
  const errors: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(message.text());
  });
  try {
    await page.goto(`http://127.0.0.1:${port}/page`);
    for (const path of ['/chat', '/denied']) {
      const outcome = await page.evaluate(
        (url) =>
          new Promise<string>((resolve) => {
            const ws = new WebSocket(url);
            ws.onopen = () => resolve('open');
            ws.onclose = (event) => resolve(`close ${event.code}`);
          }),
        `ws://127.0.0.1:${port}${path}`,
      );
      expect(outcome, path).toBe('close 1006');
    }
    // The page and its favicon aside.
    expect(wire.filter((line) => !/^HTTP\/1\.1 (200|404)/.test(line))).toEqual([
      'HTTP/1.1 401 Unauthorized',
      'HTTP/1.1 403 Forbidden',
    ]);
    await expect.poll(() => errors.join('\n')).toMatch(/\/chat' failed: HTTP Authentication failed/);
    await expect
      .poll(() => errors.join('\n'))
      .toMatch(/\/denied' failed: Error during WebSocket handshake: Unexpected response code: 403/);
  } finally {
    await page.close();
    await app.close();
  }
});
