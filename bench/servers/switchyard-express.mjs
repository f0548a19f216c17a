/** switchyard on Express, behind one ordinary middleware; broadcast through the hub. */
import http from 'node:http';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { TOPIC, serve } from './_harness.mjs';

// BENCH_EXPRESS_FROM (set by switchyard-express-before.mjs): another checkout, installed and
// built, whose Express and @switchyard/express this same program serves instead of this tree's.
const from = process.env.BENCH_EXPRESS_FROM && join(process.env.BENCH_EXPRESS_FROM, 'packages/express');
const express = from ? createRequire(join(from, 'package.json'))('express') : (await import('express')).default;
const { createHub, websocket } = await import(
  from ? pathToFileURL(join(from, 'dist/index.js')).href : '@switchyard/express'
);

// BENCH_HEARTBEAT=off (set by bench/instructions.mjs for echoes): no heartbeat, whose 30 s sweep
// and pings would land inside a count that callgrind stretches over a minute.
const defaults = process.env.BENCH_HEARTBEAT === 'off' ? { heartbeat: false } : undefined;
const hub = createHub();
const app = express();
app.use(function tagUser(_req, res, next) {
  res.locals.user = 'bench';
  next();
});
app.use(
  '/echo',
  websocket(
    {
      message(ws, data) {
        ws.send(data);
      },
    },
    defaults,
  ),
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
