/**
 * Raw `ws` with the heartbeat its README shows: every 30 s, terminate what did not answer the
 * last ping and ping the rest. The baseline of bench/idle.mjs, where every server pings.
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

function alive() {
  this.isAlive = true;
}

const server = http.createServer((req, res) => {
  res.statusCode = req.url === '/http' ? 200 : 404;
  res.end('ok');
});

server.on('upgrade', (req, socket, head) => {
  wss.handleUpgrade(req, socket, head, (ws) => {
    ws.isAlive = true;
    ws.on('pong', alive);
    if (req.url === '/sub') {
      subscribers.add(ws);
      ws.on('close', unsubscribe);
    } else {
      ws.on('message', echo);
    }
  });
});

const heartbeat = setInterval(() => {
  for (const ws of wss.clients) {
    if (ws.isAlive === false) {
      ws.terminate();
      continue;
    }
    ws.isAlive = false;
    ws.ping();
  }
}, 30_000);
heartbeat.unref();

serve({
  server,
  publish(payload) {
    for (const ws of subscribers) ws.send(payload);
  },
  subscribers: () => subscribers.size,
});
