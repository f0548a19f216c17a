// The switchyard chat demo on Koa: the Express demo's page at / and its chat room at /chat.
//   npx -y pnpm@10 install && npx -y pnpm@10 demo:koa
// then open http://localhost:3000
import { createReadStream } from 'node:fs';
import Koa from 'koa';
import { shutdown, websocket } from '@switchyard/koa';
// One page and one room for every demo, so that they differ only in how they mount it.
import { chatRoom, hubFromEnv } from '../express-chat/chat.js';

const page = new URL('../express-chat/public/index.html', import.meta.url);
const hub = hubFromEnv();
const chat = websocket(chatRoom({ hub }));

const app = new Koa();
app.use((ctx, next) => (ctx.path === '/chat' ? chat(ctx, next) : next()));
app.use((ctx, next) => {
  if (ctx.path !== '/' || (ctx.method !== 'GET' && ctx.method !== 'HEAD')) return next();
  ctx.type = 'html';
  ctx.body = createReadStream(page);
});

const port = Number(process.env.PORT ?? 3000);
const server = app.listen(port, process.env.HOST ?? '127.0.0.1', () => {
  const { address, port: bound } = server.address();
  console.log(`switchyard chat (koa) on http://${address === '::' ? 'localhost' : address}:${bound}`);
});

// Under pnpm one Ctrl-C arrives twice (the terminal signals the process group, and pnpm
// forwards its own): the shutdown runs once, and the repeat does not cut it short.
let stopping;
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    stopping ??= (async () => {
      await shutdown(server);
      server.close();
      await hub?.close();
    })();
  });
}
