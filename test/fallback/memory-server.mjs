/**
 * A server in its own process, for the fallback's memory tests (test/fallback/limits.ts): the
 * heap is measured after full collections (`--expose-gc`) in a process that runs nothing but
 * the server, and a small `--max-old-space-size` makes a leak crash it for real.
 *
 *   node --expose-gc test/fallback/memory-server.mjs express|koa|fastify|hono
 *
 * Endpoints, each with the defaults (maxPayload 1 MiB, maxBufferedAmount 16 MiB, fallback on):
 *   /echo   sends every message back
 *   /burst  on `burst:<count>:<bytes>`, sends that many text messages of that size, as fast as
 *           the reader takes them (it waits for `drain` whenever send() says stop), then `done`
 *
 * Commands over IPC: `memory` (heap after GC), `connections` (open on the two endpoints).
 */
import http from 'node:http';

const adapter = process.argv[2];

const connections = new Set();
const track = {
  heartbeat: false,
  open(ws) {
    connections.add(ws);
  },
  close(ws) {
    connections.delete(ws);
  },
};

const echo = {
  ...track,
  message(ws, data) {
    ws.send(data);
  },
};

const burst = {
  ...track,
  message(ws, data) {
    const [command, count, bytes] = String(data).split(':');
    if (command !== 'burst') return;
    const text = 'x'.repeat(Number(bytes));
    let left = Number(count);
    const pump = () => {
      while (left > 0 && ws.readyState === 1) {
        left--;
        if (!ws.send(text)) return;
      }
      if (left === 0) {
        ws.off('drain', pump);
        ws.send('done');
      }
    };
    ws.on('drain', pump);
    pump();
  },
};

async function listen() {
  if (adapter === 'express') {
    const { default: express } = await import('express');
    const { websocket } = await import('@switchyard/express');
    const app = express();
    app.use('/echo', websocket(echo));
    app.use('/burst', websocket(burst));
    return listenOn(http.createServer(app));
  }
  if (adapter === 'koa') {
    const { default: Koa } = await import('koa');
    const { websocket } = await import('@switchyard/koa');
    const endpoints = { '/echo': websocket(echo), '/burst': websocket(burst) };
    const app = new Koa();
    app.use((ctx, next) => (endpoints[ctx.path] ? endpoints[ctx.path](ctx, next) : next()));
    return listenOn(http.createServer(app.callback()));
  }
  if (adapter === 'fastify') {
    const { default: Fastify } = await import('fastify');
    const { default: websocket } = await import('@switchyard/fastify');
    const app = Fastify();
    await app.register(websocket);
    app.get('/echo', { websocket: echo });
    app.get('/burst', { websocket: burst });
    await app.listen({ port: 0, host: '127.0.0.1' });
    return app.server.address().port;
  }
  if (adapter === 'nestjs') {
    const { nestServer } = await import('../../packages/nestjs/test/program.mjs');
    return listenOn(await nestServer({ '/echo': echo, '/burst': burst }));
  }
  if (adapter === 'hono') {
    const { Hono } = await import('hono');
    const { getRequestListener } = await import('@hono/node-server');
    const { websocket } = await import('@switchyard/hono');
    const app = new Hono();
    app.all('/echo', websocket(echo));
    app.all('/burst', websocket(burst));
    return listenOn(http.createServer(getRequestListener(app.fetch)));
  }
  throw new Error(`unknown adapter ${adapter}`);
}

function listenOn(server) {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server.address().port)));
}

/** Memory after full collections, with turns of the event loop between them for finalizers. */
async function settledMemory() {
  for (let i = 0; i < 4; i++) {
    globalThis.gc();
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const { heapUsed, rss, external, arrayBuffers } = process.memoryUsage();
  return { heapUsed, rss, external, arrayBuffers };
}

process.on('message', (message) => {
  const answer = message.cmd === 'memory' ? settledMemory() : Promise.resolve(connections.size);
  answer.then((result) => process.send({ id: message.id, result }));
});
process.on('disconnect', () => process.exit(0));
const port = await listen();
process.send({ type: 'ready', port });
