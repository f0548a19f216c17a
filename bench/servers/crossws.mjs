/** crossws's Node adapter on a bare Node HTTP server; broadcast through its own publish. */
import http from 'node:http';
import crossws from 'crossws/adapters/node';
import { TOPIC, serve } from './_harness.mjs';

let subscribed = 0;

const ws = crossws({
  hooks: {
    open(peer) {
      if (peer.namespace === '/sub') {
        peer.subscribe(TOPIC);
        subscribed++;
      }
    },
    message(peer, message) {
      peer.send(message.rawData);
    },
    close(peer) {
      if (peer.namespace === '/sub') subscribed--;
    },
  },
});

const server = http.createServer((req, res) => {
  res.statusCode = req.url === '/http' ? 200 : 404;
  res.end('ok');
});
server.on('upgrade', (req, socket, head) => {
  ws.handleUpgrade(req, socket, head);
});

serve({
  server,
  publish: (payload) => ws.publish(TOPIC, payload),
  subscribers: () => subscribed,
});
