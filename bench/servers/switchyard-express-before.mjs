/**
 * switchyard · Express as another checkout built it: the same program as switchyard-express.mjs,
 * importing @switchyard/express and Express from `$BENCH_BEFORE` (a clone at an earlier commit,
 * installed and built), so that one interleaved run compares a change with what it replaced:
 *
 *   git clone . /tmp/before && git -C /tmp/before checkout <commit> && (cd /tmp/before && npx -y pnpm@10 install)
 *   BENCH_BEFORE=/tmp/before node bench/run.mjs --only=switchyard-express,switchyard-express-before
 */
import http from 'node:http';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { TOPIC, serve } from './_harness.mjs';

const before = process.env.BENCH_BEFORE;
if (!before) throw new Error('BENCH_BEFORE names the checkout to compare with');
const adapter = join(before, 'packages/express');
const express = createRequire(join(adapter, 'package.json'))('express');
const { createHub, websocket } = await import(pathToFileURL(join(adapter, 'dist/index.js')).href);

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
app.use('/http', (_req, res) => {
  res.end('ok');
});

serve({
  server: http.createServer(app),
  publish: (payload) => hub.publish(TOPIC, payload),
  subscribers: () => hub.subscriberCount(TOPIC),
});
