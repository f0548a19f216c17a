/** switchyard on Koa, behind one ordinary middleware; broadcast through the hub. */
import http from 'node:http';
import Koa from 'koa';
import { createHub, websocket } from '@switchyard/koa';
import { TOPIC, serve } from './_harness.mjs';

const hub = createHub();
const echo = websocket({
  message(ws, data) {
    ws.send(data);
  },
});
const sub = websocket({
  hub,
  open(ws) {
    ws.subscribe(TOPIC);
  },
});

const app = new Koa();
app.use(async function tagUser(ctx, next) {
  ctx.state.user = 'bench';
  await next();
});
// The same hand-written path switch as the koa-easy-ws server: no router in either.
app.use(function route(ctx, next) {
  switch (ctx.path) {
    case '/echo':
      return echo(ctx, next);
    case '/sub':
      return sub(ctx, next);
    case '/http':
      // Leaves Koa the way an upgrade does (no respond()), so that this measures dispatch only.
      ctx.respond = false;
      ctx.res.statusCode = 200;
      ctx.res.end('ok');
      return undefined;
    default:
      return next();
  }
});

serve({
  server: http.createServer(app.callback()),
  publish: (payload) => hub.publish(TOPIC, payload),
  subscribers: () => hub.subscriberCount(TOPIC),
});
