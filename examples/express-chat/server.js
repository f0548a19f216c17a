// The switchyard chat demo on Express: a page at / and a WebSocket room at /chat.
//   npx -y pnpm@10 install && npx -y pnpm@10 demo     then open http://localhost:3000
// With REDIS_URL set, processes on different ports share one room through Redis.
import { fileURLToPath } from 'node:url';
import express from 'express';
import { shutdown, websocket } from '@switchyard/express';
import { chatRoom, hubFromEnv } from './chat.js';

const hub = hubFromEnv();
const app = express();
app.use(express.static(fileURLToPath(new URL('./public', import.meta.url))));
app.use('/chat', websocket(chatRoom({ hub })));

const port = Number(process.env.PORT ?? 3000);
const server = app.listen(port, process.env.HOST ?? '127.0.0.1', () => {
  const { address, port: bound } = server.address();
  console.log(`switchyard chat (express) on http://${address === '::' ? 'localhost' : address}:${bound}`);
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
