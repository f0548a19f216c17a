/** express-ws, wired as its README says, behind the same middleware; broadcast is a send loop. */
import http from 'node:http';
import express from 'express';
import expressWs from 'express-ws';
import { serve } from './_harness.mjs';

const app = express();
const server = http.createServer(app);
expressWs(app, server);
const subscribers = new Set();

function echo(data) {
  this.send(data);
}

function unsubscribe() {
  subscribers.delete(this);
}

app.use(function tagUser(_req, res, next) {
  res.locals.user = 'bench';
  next();
});
app.ws('/echo', (ws) => {
  ws.on('message', echo);
});
app.ws('/sub', (ws) => {
  subscribers.add(ws);
  ws.on('close', unsubscribe);
});
app.get('/http', (_req, res) => {
  res.end('ok');
});

serve({
  server,
  publish(payload) {
    for (const ws of subscribers) ws.send(payload);
  },
  subscribers: () => subscribers.size,
});
