import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import type WebSocket from 'ws';
import { RawClient, closed, handshakeRequest, messages, openWs, readResponse } from '../../../test/helpers.js';
import { ChatGateway, type Platform, TokenGuard, startApp } from './app.js';

const apps: Array<{ close(): Promise<unknown> }> = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((app) => app.close()));
  ChatGateway.events = [];
  TokenGuard.seen = [];
});

async function start(platform: Platform) {
  const started = await startApp(platform);
  apps.push(started.app);
  return { ...started, url: `ws://127.0.0.1:${started.port}/chat` };
}

async function next(ws: WebSocket): Promise<unknown> {
  const { data } = await messages(ws).next();
  return JSON.parse(data.toString());
}

for (const platform of ['express', 'fastify'] as const) {
  describe(`@switchyard/nestjs on platform-${platform}`, () => {
    it('a guard that returns false answers 403 before the 101; a thrown UnauthorizedException 401', async () => {
      const { port } = await start(platform);
      for (const [token, status, body] of [
        ['no', 403, 'Forbidden resource'],
        [undefined, 401, 'token required'],
      ] as const) {
        const client = await RawClient.connect(port);
        client.write(handshakeRequest('/chat', token ? { 'X-Token': token } : {}));
        const response = await readResponse(client);
        expect(response.status).toBe(status);
        expect(response.body).toContain(body);
        expect(response.headers['sec-websocket-accept']).toBeUndefined();
        client.destroy();
      }
      expect(TokenGuard.seen).toEqual(['/chat', '/chat']);
      expect(ChatGateway.events).toEqual([]);
    });

    it('runs the gateway: handleConnection, { event, data } handlers, promises, Observables, handleDisconnect', async () => {
      const { url } = await start(platform);
      const ws = await openWs(url, ['soap', 'chat'], { headers: { 'x-token': 'ann' } });
      expect(ws.protocol).toBe('chat');
      ws.send(JSON.stringify({ event: 'echo', data: { hi: 1 } }));
      expect(await next(ws)).toEqual({ event: 'echo', data: { hi: 1 } });
      ws.send(JSON.stringify({ event: 'whoami' }));
      expect(await next(ws)).toEqual({ event: 'whoami', data: 'ann' });
      ws.send(JSON.stringify({ event: 'later', data: 'x' }));
      expect(await next(ws)).toEqual({ event: 'later', data: 'x' });
      ws.send(JSON.stringify({ event: 'count', data: 3 }));
      expect([await next(ws), await next(ws), await next(ws)]).toEqual(
        [1, 2, 3].map((data) => ({ event: 'count', data })),
      );
      ws.send(JSON.stringify({ event: 'nobody', data: 1 }));
      ws.send(JSON.stringify({ event: 'fail' }));
      expect(await next(ws)).toMatchObject({ event: 'exception', data: { status: 'error', message: 'no such room' } });
      ws.close();
      await closed(ws);
      await expect.poll(() => ChatGateway.events).toEqual(['connect ann', 'disconnect ann']);
    });

    it('a frame that is not JSON closes with 1007', async () => {
      const { url } = await start(platform);
      const ws = await openWs(url, 'chat', { headers: { 'x-token': 'ann' } });
      const done = closed(ws);
      ws.send('not json');
      expect((await done).code).toBe(1007);
    });

    it('hostile frames (any text, JSON of any shape, unknown events, wrong data types) get a reply, silence or 1007, never a crash', async () => {
      const { url } = await start(platform);
      const frame = fc.oneof(
        fc.string(),
        fc.json(),
        fc
          .record({
            event: fc.constantFrom('echo', 'later', 'whoami', 'fail', 'nobody', '__proto__'),
            data: fc.jsonValue(),
          })
          .map((message) => JSON.stringify(message)),
      );
      await fc.assert(
        fc.asyncProperty(fc.array(frame, { minLength: 1, maxLength: 5 }), async (frames) => {
          const ws = await openWs(url, 'chat', { headers: { 'x-token': 'ann' } });
          const done = closed(ws);
          for (const text of frames) ws.send(text);
          ws.send(JSON.stringify({ event: 'echo', data: 'last' }));
          const outcome = await Promise.race([
            done.then(({ code }) => `close ${code}`),
            (async () => {
              for (;;) {
                const reply = (await next(ws)) as { event?: string; data?: unknown };
                if (reply.event === 'echo' && reply.data === 'last') return 'echoed';
              }
            })(),
          ]);
          expect(['echoed', 'close 1007']).toContain(outcome);
          ws.terminate();
        }),
        { numRuns: 15, seed: 20261207 },
      );
      // The app still serves.
      const ws = await openWs(url, 'chat', { headers: { 'x-token': 'ann' } });
      ws.send(JSON.stringify({ event: 'echo', data: 1 }));
      expect(await next(ws)).toEqual({ event: 'echo', data: 1 });
      ws.close();
    });

    it('a page request pipelined ahead of an upgrade is answered first, then the 101', async () => {
      const { port } = await start(platform);
      const client = await RawClient.connect(port);
      client.write(`GET /page HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n${handshakeRequest('/chat', { 'X-Token': 'ann' })}`);
      const all = await client.until((b) => b.includes('101 Switching Protocols'));
      const text = all.toString('latin1');
      expect(text.startsWith('HTTP/1.1 200')).toBe(true);
      expect(text.indexOf('a page')).toBeLessThan(text.indexOf('HTTP/1.1 101'));
      client.write(Buffer.from([0x81, 0x80, 0, 0, 0, 0]));
      client.destroy();
    });

    it('app.close() closes connections with 1001', async () => {
      const { app, url } = await start(platform);
      apps.pop();
      const ws = await openWs(url, 'chat', { headers: { 'x-token': 'ann' } });
      const done = closed(ws);
      await app.close();
      expect((await done).code).toBe(1001);
    });
  });
}
