/** switchyard on Express with `stats: false` and no channel subscriber: the floor of the observability cost. */
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
    stats: false,
    message(ws, data) {
      ws.send(data);
    },
  }),
);
app.use(
  '/sub',
  websocket({
    stats: false,
    hub,
    open(ws) {
      ws.subscribe(TOPIC);
    },
  }),
);
app.use('/http', (_req, res) => {
  res.end('ok');
});

serve({
  server: http.createServer(app),
  publish: (payload) => hub.publish(TOPIC, payload),
  subscribers: () => hub.subscriberCount(TOPIC),
});
