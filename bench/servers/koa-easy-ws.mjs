/** koa-easy-ws, wired as its README says, behind the same middleware; broadcast is a send loop. */
import http from 'node:http';
import Koa from 'koa';
import websocket from 'koa-easy-ws';
import { serve } from './_harness.mjs';

const subscribers = new Set();

function echo(data, isBinary) {
  this.send(data, { binary: isBinary });
}

function unsubscribe() {
  subscribers.delete(this);
}

const app = new Koa();
app.use(async function tagUser(ctx, next) {
  ctx.state.user = 'bench';
  await next();
});
app.use(websocket());
app.use(async function route(ctx, next) {
  switch (ctx.path) {
    case '/echo': {
      if (!ctx.ws) return next();
      const ws = await ctx.ws();
      ws.on('message', echo);
      return undefined;
    }
    case '/sub': {
      if (!ctx.ws) return next();
      const ws = await ctx.ws();
      subscribers.add(ws);
      ws.on('close', unsubscribe);
      return undefined;
    }
    case '/http':
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
  publish(payload) {
    for (const ws of subscribers) ws.send(payload);
  },
  subscribers: () => subscribers.size,
});
