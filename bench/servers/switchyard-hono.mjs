/** switchyard on Hono (@hono/node-server), behind one ordinary middleware; broadcast through the hub. */
import http from 'node:http';
import { getRequestListener } from '@hono/node-server';
import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response';
import { pathToFileURL } from 'node:url';
import { Hono } from 'hono';
import { TOPIC, serve } from './_harness.mjs';

// BENCH_HONO_FROM: a directory holding another build of @switchyard/hono's dist/ (inside
// packages/hono, so that its imports resolve), served by this same program, to compare a change
// of the adapter with what it replaced under bench/instructions.mjs.
const { createHub, upgradeWebSocket } = await import(
  process.env.BENCH_HONO_FROM ? pathToFileURL(`${process.env.BENCH_HONO_FROM}/dist/index.js`).href : '@switchyard/hono'
);

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
