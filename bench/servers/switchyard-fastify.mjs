/** switchyard on Fastify, behind one onRequest hook; broadcast through the hub. */
import Fastify from 'fastify';
import websocket, { createHub } from '@switchyard/fastify';
import { TOPIC, serve } from './_harness.mjs';

const hub = createHub();
const app = Fastify();
// BENCH_HEARTBEAT=off: as in switchyard-express.mjs.
await app.register(websocket, process.env.BENCH_HEARTBEAT === 'off' ? { heartbeat: false } : {});
app.decorateRequest('user', null);
app.addHook('onRequest', function tagUser(request, _reply, done) {
  request.user = 'bench';
  done();
});
app.get('/echo', {
  websocket: {
    message(ws, data) {
      ws.send(data);
    },
  },
});
app.get('/sub', {
  websocket: {
    hub,
    open(ws) {
      ws.subscribe(TOPIC);
    },
  },
});
// Leaves Fastify the way an upgrade does (hijacked), so that this measures dispatch only.
app.get('/http', (_request, reply) => {
  reply.hijack();
  reply.raw.end('ok');
});

serve({
  listen: async () => {
    await app.listen({ port: 0, host: '127.0.0.1' });
    return app.server.address().port;
  },
  publish: (payload) => hub.publish(TOPIC, payload),
  subscribers: () => hub.subscriberCount(TOPIC),
});
