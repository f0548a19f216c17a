// The same app as esm.mjs in TypeScript, compiled with `skipLibCheck: false` under nodenext,
// bundler and node10 resolution. `ws.context` must be typed from what `upgrade` returns: the
// expected errors below go unmet, which fails the compile, if it were `any`.
import type { AddressInfo } from 'node:net';
import express from 'express';
import Koa from 'koa';
import Fastify from 'fastify';
import { websocket as expressWebsocket, reject, shutdown } from '@switchyard/express';
import type { Connection, UpgradeRequest } from '@switchyard/express';
import { websocket as koaWebsocket } from '@switchyard/koa';
import fastifyWebsocket from '@switchyard/fastify';
import { createHub, CloseCode } from '@switchyard/core';
import { redisHub } from '@switchyard/redis';
import { connect } from '@switchyard/client';

const protocols = ['chat'];
function upgrade(req: UpgradeRequest) {
  if (req.query.token !== 'letmein') throw reject(401, 'Unauthorized', { 'WWW-Authenticate': 'Bearer' });
  return { context: { user: 'ann' } };
}
function reply(ws: Connection<{ user: string }>, data: string | Buffer): void {
  ws.send(`${ws.context.user}: ${data.toString()}`);
}

function listen(server: import('node:http').Server): Promise<number> {
  return new Promise((resolve) => server.once('listening', () => resolve((server.address() as AddressInfo).port)));
}

async function main(): Promise<void> {
  const expressApp = express();
  expressApp.use(
    '/echo',
    expressWebsocket({
      protocols,
      upgrade,
      message(ws, data) {
        const user: string = ws.context.user;
        // @ts-expect-error the context has no such member
        void ws.context.nope;
        void user;
        reply(ws, data);
      },
    }),
  );
  const expressServer = expressApp.listen(0, '127.0.0.1');
  const expressPort = listen(expressServer);

  const koaApp = new Koa();
  koaApp.use(
    koaWebsocket({
      protocols,
      upgrade,
      message(ws, data) {
        // @ts-expect-error the context has no such member
        void ws.context.nope;
        reply(ws, data);
      },
    }),
  );
  const koaServer = koaApp.listen(0, '127.0.0.1');
  const koaPort = listen(koaServer);

  const fastifyApp = Fastify();
  await fastifyApp.register(fastifyWebsocket);
  fastifyApp.get('/echo', {
    websocket: {
      protocols,
      upgrade,
      message(ws, data) {
        // @ts-expect-error the context has no such member
        void ws.context.nope;
        reply(ws, data);
      },
    },
  });
  await fastifyApp.listen({ port: 0, host: '127.0.0.1' });

  console.log(
    JSON.stringify({
      express: await expressPort,
      koa: await koaPort,
      fastify: (fastifyApp.server.address() as AddressInfo).port,
      exports: [typeof createHub, typeof redisHub, typeof connect, CloseCode.GOING_AWAY],
    }),
  );

  process.once('SIGTERM', async () => {
    await Promise.all([shutdown(expressServer), shutdown(koaServer), fastifyApp.close()]);
    expressServer.close();
    koaServer.close();
  });
}

void main();
