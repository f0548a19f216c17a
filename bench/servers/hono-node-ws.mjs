/** @hono/node-ws, wired as its README says, behind the same middleware; broadcast is a send loop. */
import http from 'node:http';
import { getRequestListener } from '@hono/node-server';
import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response';
import { createNodeWebSocket } from '@hono/node-ws';
import { Hono } from 'hono';
import { serve } from './_harness.mjs';

const subscribers = new Set();
const app = new Hono();
const { injectWebSocket, upgradeWebSocket } = createNodeWebSocket({ app });
app.use(async function tagUser(c, next) {
  c.set('user', 'bench');
  await next();
});
app.get(
  '/echo',
  upgradeWebSocket(() => ({ onMessage: (event, ws) => ws.send(event.data) })),
);
app.get(
  '/sub',
  upgradeWebSocket(() => ({
    onOpen: (_event, ws) => subscribers.add(ws),
    onClose: (_event, ws) => subscribers.delete(ws),
  })),
);
app.get('/http', (c) => {
  c.env.outgoing.statusCode = 200;
  c.env.outgoing.end('ok');
  return RESPONSE_ALREADY_SENT;
});

const server = http.createServer(getRequestListener(app.fetch));
injectWebSocket(server);
serve({
  server,
  publish(payload) {
    for (const ws of subscribers) ws.send(payload);
  },
  subscribers: () => subscribers.size,
});
