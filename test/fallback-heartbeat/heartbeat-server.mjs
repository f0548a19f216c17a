/**
 * An Express server in its own process for the heartbeat's scale test (heartbeat.serial.test.ts):
 * the heap is measured after full collections (`--expose-gc`) in a process that runs nothing but
 * the server.
 *
 *   node --expose-gc test/fallback-heartbeat/heartbeat-server.mjs <interval> <timeout>
 *
 * One endpoint, /hb, with that heartbeat. Commands over IPC: `memory` (heap after GC), `stats`
 * (sessions open, closes by code, bytes kept for replay over all sessions).
 */
import http from 'node:http';
import express from 'express';
import { websocket } from '@switchyard/express';
import { SseSocket } from '@switchyard/core/internal';

// Every session's replay buffer, for `stats`: what the server keeps for the clients.
const sessions = new Set();
const attach = SseSocket.prototype.attach;
SseSocket.prototype.attach = function (...args) {
  sessions.add(this);
  this.once('close', () => sessions.delete(this));
  return attach.apply(this, args);
};

const [interval, timeout] = process.argv.slice(2).map(Number);
let open = 0;
const closes = {};
const app = express();
app.use(
  '/hb',
  websocket({
    heartbeat: { interval, timeout },
    open() {
      open++;
    },
    close(_ws, { code }) {
      open--;
      closes[code] = (closes[code] ?? 0) + 1;
    },
  }),
);
const server = http.createServer(app);
server.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, () =>
  process.send({ type: 'ready', port: server.address().port }),
);

async function settledHeap() {
  for (let i = 0; i < 4; i++) {
    globalThis.gc();
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return process.memoryUsage().heapUsed;
}

process.on('message', async ({ id, cmd }) => {
  let replayBytes = 0;
  for (const session of sessions) replayBytes += session.replayBytes;
  const result = cmd === 'memory' ? await settledHeap() : { open, closes, replayBytes };
  process.send({ id, result });
});
process.on('disconnect', () => process.exit(0));
