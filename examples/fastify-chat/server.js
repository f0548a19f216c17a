// The switchyard chat demo on Fastify: the Express demo's page at / and its chat room at /chat,
// whose plain GETs get the page too.
//   npx -y pnpm@10 install && npx -y pnpm@10 demo:fastify
// then open http://localhost:3000
import { readFile } from 'node:fs/promises';
import Fastify from 'fastify';
import websocket from '@switchyard/fastify';
// One page and one room for every demo, so that they differ only in how they mount it.
import { chatRoom, hubFromEnv } from '../express-chat/chat.js';

const page = await readFile(new URL('../express-chat/public/index.html', import.meta.url), 'utf8');
const sendPage = (_request, reply) => reply.type('text/html; charset=utf-8').send(page);

const app = Fastify();
await app.register(websocket);
app.get('/', sendPage);
const hub = hubFromEnv();
app.get('/chat', { websocket: chatRoom({ hub }) }, sendPage);

const address = await app.listen({ port: Number(process.env.PORT ?? 3000), host: process.env.HOST ?? '127.0.0.1' });
console.log(`switchyard chat (fastify) on ${address.replace('[::]', 'localhost')}`);

// Under pnpm one Ctrl-C arrives twice (the terminal signals the process group, and pnpm
// forwards its own): the shutdown runs once, and the repeat does not cut it short.
let stopping;
for (const signal of ['SIGINT', 'SIGTERM']) {
  // app.close() sends every member 1001 and waits for the room's close handlers.
  process.on(signal, () => {
    stopping ??= (async () => {
      await app.close();
      await hub?.close();
    })();
  });
}
