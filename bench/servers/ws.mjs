/**
 * The baseline: raw `ws` in noServer mode on a bare Node HTTP server, set up as ws's README
 * shows it. Broadcast is the usual `ws.send` loop over a Set.
 */
import http from 'node:http';
import { WebSocketServer } from 'ws';
import { serve } from './_harness.mjs';

const wss = new WebSocketServer({ noServer: true });
const subscribers = new Set();

function echo(data, isBinary) {
  this.send(data, { binary: isBinary });
}

function unsubscribe() {
  subscribers.delete(this);
}

const server = http.createServer((req, res) => {
  res.statusCode = req.url === '/http' ? 200 : 404;
  res.end('ok');
});

server.on('upgrade', (req, socket, head) => {
  wss.handleUpgrade(req, socket, head, (ws) => {
    if (req.url === '/sub') {
      subscribers.add(ws);
      ws.on('close', unsubscribe);
    } else {
      ws.on('message', echo);
    }
  });
});

serve({
  server,
  publish(payload) {
    for (const ws of subscribers) ws.send(payload);
  },
  subscribers: () => subscribers.size,
});
