// A user's app in plain ESM JavaScript: on each framework an echo endpoint at /echo with the
// subprotocol `chat`, an `upgrade` hook that refuses a missing token with 401, and a context
// that `message` reads. It prints the ports as one JSON line; SIGTERM shuts it down.
import express from 'express';
import Koa from 'koa';
import Fastify from 'fastify';
import { websocket as expressWebsocket, reject, shutdown } from '@switchyard/express';
import { websocket as koaWebsocket } from '@switchyard/koa';
import fastifyWebsocket from '@switchyard/fastify';
import { Hono } from 'hono';
import { serve } from '@hono/node-server';
import { upgradeWebSocket, shutdown as honoShutdown } from '@switchyard/hono';
import { createHub, CloseCode } from '@switchyard/core';
import { redisHub } from '@switchyard/redis';
import { connect } from '@switchyard/client';
import * as coreApi from '@switchyard/core';
import * as expressApi from '@switchyard/express';
import { isSendableCloseCode } from '@switchyard/core/protocol';
import { takeSocket } from '@switchyard/core/internal';

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

// Hono's own handler shape; the token check is Hono middleware, answering before the 101.
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
  await Promise.all([shutdown(expressServer), shutdown(koaServer), fastifyApp.close(), honoShutdown(honoServer)]);
  expressServer.close();
  koaServer.close();
  honoServer.close();
});
