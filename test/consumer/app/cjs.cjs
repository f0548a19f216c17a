// The same app as esm.mjs, written as CommonJS: every package loaded with require(), which
// works on the Node versions the packages' `engines` admit (require of ES modules).
const express = require('express');
const Koa = require('koa');
const Fastify = require('fastify');
const { websocket: expressWebsocket, reject, shutdown } = require('@switchyard/express');
const { websocket: koaWebsocket } = require('@switchyard/koa');
const fastifyWebsocket = require('@switchyard/fastify').default;
const { Hono } = require('hono');
const { serve } = require('@hono/node-server');
const { upgradeWebSocket } = require('@switchyard/hono');
const { createHub, CloseCode } = require('@switchyard/core');
const { redisHub } = require('@switchyard/redis');
const { connect } = require('@switchyard/client');
const coreApi = require('@switchyard/core');
const expressApi = require('@switchyard/express');
const { isSendableCloseCode } = require('@switchyard/core/protocol');
const { takeSocket } = require('@switchyard/core/internal');

// Internals stay out of the public entry points; the protocol and internal ones resolve.
const INTERNALS = [
  'takeSocket',
  'SseSocket',
  'Inbox',
  'LIVENESS_FRAME',
  'Endpoint',
  'checkHandshake',
  'rejectHandshake',
];
const surface = [
  typeof isSendableCloseCode,
  INTERNALS.filter((name) => name in coreApi || name in expressApi),
  typeof takeSocket,
];

const handlers = () => ({
  protocols: ['chat'],
  upgrade(req) {
    if (req.query.token !== 'letmein') throw reject(401, 'Unauthorized', { 'WWW-Authenticate': 'Bearer' });
    return { context: { user: 'ann' } };
  },
  message(ws, data) {
    ws.send(`${ws.context.user}: ${data}`);
  },
});

function listen(server) {
  return new Promise((resolve) => server.once('listening', () => resolve(server.address().port)));
}

async function main() {
  const expressApp = express();
  expressApp.use('/echo', expressWebsocket(handlers()));
  const expressServer = expressApp.listen(0, '127.0.0.1');
  const expressPort = listen(expressServer);

  const koaApp = new Koa();
  koaApp.use(koaWebsocket(handlers()));
  const koaServer = koaApp.listen(0, '127.0.0.1');
  const koaPort = listen(koaServer);

  const fastifyApp = Fastify();
  await fastifyApp.register(fastifyWebsocket);
  fastifyApp.get('/echo', { websocket: handlers() });
  await fastifyApp.listen({ port: 0, host: '127.0.0.1' });

  const honoApp = new Hono();
  honoApp.use('/echo', async (c, next) => {
    if (c.req.query('token') !== 'letmein') return c.text('Unauthorized', 401, { 'WWW-Authenticate': 'Bearer' });
    c.set('user', 'ann');
    await next();
  });
  honoApp.get(
    '/echo',
    upgradeWebSocket((c) => ({ onMessage: (event, ws) => ws.send(`${c.get('user')}: ${event.data}`) }), {
      protocols: ['chat'],
    }),
  );
  const honoServer = serve({ fetch: honoApp.fetch, port: 0, hostname: '127.0.0.1' });
  const honoPort = listen(honoServer);

  console.log(
    JSON.stringify({
      express: await expressPort,
      koa: await koaPort,
      fastify: fastifyApp.server.address().port,
      hono: await honoPort,
      exports: [typeof createHub, typeof redisHub, typeof connect, CloseCode.GOING_AWAY],
      surface,
    }),
  );

  process.once('SIGTERM', async () => {
    await Promise.all([shutdown(expressServer), shutdown(koaServer), fastifyApp.close(), shutdown(honoServer)]);
    expressServer.close();
    koaServer.close();
    honoServer.close();
  });
}

main();
