/**
 * switchyard on Express with every admission control on, set high enough that the bench never
 * trips them: what the checks themselves cost per handshake and per message, next to the
 * uncapped switchyard-express.
 */
import http from 'node:http';
import express from 'express';
import { createHub, websocket } from '@switchyard/express';
import { TOPIC, serve } from './_harness.mjs';

const limits = {
  maxConnections: 1_000_000,
  maxConnectionsPerAddress: 1_000_000,
  handshakeRate: { handshakes: 1_000_000, per: 1000 },
  rateLimit: { messages: 10_000_000, bytes: 10_000_000_000, per: 1000 },
  idleTimeout: 600_000,
  maxLifetime: 3_600_000,
};
const hub = createHub();
const app = express();
app.use(function tagUser(_req, res, next) {
  res.locals.user = 'bench';
  next();
});
app.use(
  '/echo',
  websocket({
    ...limits,
    message(ws, data) {
      ws.send(data);
    },
  }),
);
app.use(
  '/sub',
  websocket({
    ...limits,
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
