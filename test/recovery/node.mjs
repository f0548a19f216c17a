// One app node for the recovery suite, as a process of its own so that a test can SIGKILL it.
// env: ADAPTER (express | koa | fastify), REDIS_URL or REDIS_CLUSTER (root node URLs, comma-separated), PREFIX, MAX_LEN, MAX_REPLAY, MAX_DISCONNECTION.
// Endpoints: /feed and /other (recovery on both), subscribed to ?topic= (default 'feed').
// The first app message of each connection says whether it resumed: `hello:<ws.recovered>`.
// Prints `port <n>` once listening.
import http from 'node:http';
import { redisHub } from '@switchyard/redis';

const durable = { maxLen: Number(process.env.MAX_LEN ?? 10_000), ttl: 0 };
const hub = process.env.REDIS_CLUSTER
  ? redisHub({
      cluster: { rootNodes: process.env.REDIS_CLUSTER.split(',').map((url) => ({ url })) },
      prefix: process.env.PREFIX,
      durable,
    })
  : redisHub({ url: process.env.REDIS_URL, prefix: process.env.PREFIX, durable });
hub.on('error', () => {});
await hub.ready();
const handlers = {
  hub,
  heartbeat: false,
  recovery: {
    maxDisconnectionDuration: Number(process.env.MAX_DISCONNECTION ?? 10_000),
    maxReplay: Number(process.env.MAX_REPLAY ?? 10_000),
  },
  fallback: { sessionTimeout: 10_000 },
  open(ws) {
    ws.send(`hello:${ws.recovered}`);
    ws.subscribe(String(ws.request.query.topic ?? 'feed'));
  },
  message(ws, data) {
    for (const topic of ws.topics) void ws.publish(topic, data);
  },
};

let server;
const adapter = process.env.ADAPTER ?? 'express';
if (adapter === 'express') {
  const { default: express } = await import('express');
  const { websocket } = await import('@switchyard/express');
  const app = express();
  app.use('/feed', websocket(handlers));
  app.use('/other', websocket(handlers));
  server = http.createServer(app);
  server.listen(0, '127.0.0.1');
} else if (adapter === 'koa') {
  const { default: Koa } = await import('koa');
  const { websocket } = await import('@switchyard/koa');
  const app = new Koa();
  const feed = websocket(handlers);
  const other = websocket(handlers);
  app.use((ctx, next) => (ctx.path === '/feed' ? feed(ctx, next) : ctx.path === '/other' ? other(ctx, next) : next()));
  server = app.listen(0, '127.0.0.1');
} else {
  const { default: Fastify } = await import('fastify');
  const { default: websocket } = await import('@switchyard/fastify');
  const app = Fastify();
  await app.register(websocket);
  const page = (_request, reply) => reply.send('');
  app.get('/feed', { websocket: handlers }, page);
  app.get('/other', { websocket: { ...handlers } }, page);
  await app.listen({ port: 0, host: '127.0.0.1' });
  server = app.server;
}
await new Promise((resolve) => (server.listening ? resolve() : server.once('listening', resolve)));
process.stdout.write(`port ${server.address().port}\n`);
