/** switchyard on Hono (@hono/node-server), behind one ordinary middleware; broadcast through the hub. */
import http from 'node:http';
import { getRequestListener } from '@hono/node-server';
import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response';
import { Hono } from 'hono';
import { createHub, upgradeWebSocket } from '@switchyard/hono';
import { TOPIC, serve } from './_harness.mjs';

const hub = createHub();
const app = new Hono();
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
  upgradeWebSocket(() => ({ onOpen: (_event, ws) => ws.raw.subscribe(TOPIC) }), { hub }),
);
// Written on Node's response, as an upgrade leaves it, so that this measures dispatch only.
app.get('/http', (c) => {
  c.env.outgoing.statusCode = 200;
  c.env.outgoing.end('ok');
  return RESPONSE_ALREADY_SENT;
});

serve({
  server: http.createServer(getRequestListener(app.fetch)),
  publish: (payload) => hub.publish(TOPIC, payload),
  subscribers: () => hub.subscriberCount(TOPIC),
});
