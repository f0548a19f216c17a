/** @fastify/websocket, wired as its README says, behind the same hook; broadcast is a send loop. */
import Fastify from 'fastify';
import fastifyWebsocket from '@fastify/websocket';
import { serve } from './_harness.mjs';

const subscribers = new Set();

function echo(data, isBinary) {
  this.send(data, { binary: isBinary });
}

function unsubscribe() {
  subscribers.delete(this);
}

const app = Fastify();
await app.register(fastifyWebsocket);
app.decorateRequest('user', null);
app.addHook('onRequest', function tagUser(request, _reply, done) {
  request.user = 'bench';
  done();
});
app.get('/echo', { websocket: true }, (socket) => {
  socket.on('message', echo);
});
app.get('/sub', { websocket: true }, (socket) => {
  subscribers.add(socket);
  socket.on('close', unsubscribe);
});
app.get('/http', (_request, reply) => {
  reply.hijack();
  reply.raw.end('ok');
});

serve({
  listen: async () => {
    await app.listen({ port: 0, host: '127.0.0.1' });
    return app.server.address().port;
  },
  publish(payload) {
    for (const socket of subscribers) socket.send(payload);
  },
  subscribers: () => subscribers.size,
});
