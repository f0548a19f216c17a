/** switchyard on Express, behind one ordinary middleware; broadcast through the hub. */
import http from 'node:http';
import express from 'express';
import { createHub, websocket } from '@switchyard/express';
import { TOPIC, serve } from './_harness.mjs';

const hub = createHub();
const app = express();
app.use(function tagUser(_req, res, next) {
  res.locals.user = 'bench';
  next();
});
app.use(
  '/echo',
  websocket({
    message(ws, data) {
      ws.send(data);
    },
  }),
);
app.use(
  '/sub',
  websocket({
    hub,
    open(ws) {
      ws.subscribe(TOPIC);
    },
  }),
);
// Mounted like the endpoints, and leaving Express the way an upgrade does (no res.send), so
// that this measures Express's own dispatch of a request to that place.
app.use('/http', (_req, res) => {
  res.end('ok');
});

serve({
  server: http.createServer(app),
  publish: (payload) => hub.publish(TOPIC, payload),
  subscribers: () => hub.subscriberCount(TOPIC),
});
