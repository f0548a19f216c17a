/**
 * What one SSE + POST fallback session costs the server, next to one WebSocket connection, on
 * each adapter: idle (heap and RSS after GC, per session) and busy (64 B echoes, one message in
 * flight per session: server CPU per message, and heap and RSS per session after GC).
 *
 *   node bench/sse.mjs                 # prints a markdown table
 *   node bench/sse.mjs --write         # and puts it in bench/RESULTS.md (section 5)
 *   node bench/sse.mjs --idle=500 --busy=20 --window=2000 --only=koa,fastify
 *
 * The servers are bench/servers/switchyard-*.mjs, the same programs as the main benchmark (their
 * `/echo` endpoint serves the fallback too). Idle SSE sessions are raw sockets that sent the
 * stream's GET and read whatever comes; busy SSE sessions are @switchyard/client with
 * `transports: ['sse']` (fetch for the stream and the POSTs), busy WebSockets are `ws` clients.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket from 'ws';
import { connect } from '@switchyard/client';
import { startServer } from './drive.mjs';

const args = Object.fromEntries(process.argv.slice(2).map((arg) => arg.replace(/^--/, '').split('=')));
const IDLE = Number(args.idle ?? 1000);
const BUSY = Number(args.busy ?? 50);
const WINDOW = Number(args.window ?? 3000);
const WARMUP = Number(args.warmup ?? 1000);
const PAYLOAD = 'x'.repeat(64);

const ADAPTERS = [
  { id: 'switchyard-express', name: 'Express' },
  { id: 'switchyard-koa', name: 'Koa' },
  { id: 'switchyard-fastify', name: 'Fastify' },
].filter((adapter) => !args.only || args.only.split(',').includes(adapter.id.replace('switchyard-', '')));

/** An SSE stream that reads and drops what comes: one idle session. */
function idleStream(port) {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('error', reject);
    socket.write('GET /echo?__sy=sse HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n');
    socket.once('data', (chunk) => {
      if (!chunk.toString().includes('event: open'))
        reject(new Error(`no open event: ${chunk.toString().slice(0, 80)}`));
      else resolve(socket);
    });
    socket.on('data', () => {});
  });
}

function idleWebSocket(port) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/echo`);
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

/** Opens `count` at a time, 50 in flight, so that the server's accept queue never overflows. */
async function openMany(count, open) {
  const opened = [];
  for (let i = 0; i < count; i += 50) {
    opened.push(...(await Promise.all(Array.from({ length: Math.min(50, count - i) }, open))));
  }
  return opened;
}

/** A session that echoes one message at a time for as long as `running()`; counts the echoes. */
function busySse(port, counter) {
  const socket = connect(`http://127.0.0.1:${port}/echo`, {
    WebSocket: undefined,
    transports: ['sse'],
    reconnect: false,
  });
  return new Promise((resolve, reject) => {
    socket.addEventListener('open', () => {
      socket.addEventListener('message', () => {
        counter.done++;
        if (counter.running) socket.send(PAYLOAD);
      });
      socket.send(PAYLOAD);
      resolve({ close: () => socket.close() });
    });
    socket.addEventListener('close', (event) => reject(new Error(`SSE session closed: ${event.code} ${event.reason}`)));
  });
}

function busyWebSocket(port, counter) {
  return idleWebSocket(port).then((ws) => {
    ws.on('message', () => {
      counter.done++;
      if (counter.running) ws.send(PAYLOAD);
    });
    ws.send(PAYLOAD);
    return { close: () => ws.close() };
  });
}

async function idleCost(server, open, close) {
  const before = await server.rpc({ cmd: 'memory' });
  const clients = await openMany(IDLE, () => open(server.port));
  await sleep(200);
  const after = await server.rpc({ cmd: 'memory' });
  for (const client of clients) close(client);
  return { heap: (after.heapUsed - before.heapUsed) / IDLE, rss: (after.rss - before.rss) / IDLE };
}

async function busyCost(server, open) {
  const counter = { done: 0, running: true };
  const before = await server.rpc({ cmd: 'memory' });
  const clients = await openMany(BUSY, () => open(server.port, counter));
  await sleep(WARMUP);
  const startCpu = await server.rpc({ cmd: 'cpu' });
  const startDone = counter.done;
  await sleep(WINDOW);
  const endCpu = await server.rpc({ cmd: 'cpu' });
  const messages = counter.done - startDone;
  const seconds = (endCpu.at - startCpu.at) / 1000;
  // Memory with every session still open and busy: heap and RSS after GC.
  const after = await server.rpc({ cmd: 'memory' });
  counter.running = false;
  for (const client of clients) client.close();
  return {
    rate: messages / seconds,
    cpu: messages > 0 ? (endCpu.cpu - startCpu.cpu) / messages : NaN,
    heap: (after.heapUsed - before.heapUsed) / BUSY,
    rss: (after.rss - before.rss) / BUSY,
  };
}

const bytes = (n) => `${Math.round(n).toLocaleString('en-US')} B`;
const loadStart = os.loadavg()[0].toFixed(2);
const rows = [];
for (const adapter of ADAPTERS) {
  for (const transport of ['WebSocket', 'SSE + POST']) {
    // A fresh server for each measurement: nothing of the other transport's run in its heap.
    const idleServer = await startServer(adapter);
    const idle =
      transport === 'WebSocket'
        ? await idleCost(idleServer, idleWebSocket, (ws) => ws.terminate())
        : await idleCost(idleServer, idleStream, (socket) => socket.destroy());
    await idleServer.stop();
    const busyServer = await startServer(adapter);
    const busy = await busyCost(busyServer, transport === 'WebSocket' ? busyWebSocket : busySse);
    await busyServer.stop();
    rows.push({ adapter: adapter.name, transport, idle, busy });
    process.stderr.write(`${adapter.name} ${transport} done\n`);
  }
}

const lines = [
  `Idle: ${IDLE.toLocaleString('en-US')} sessions or connections, after GC. Busy: ${BUSY} at once, each echoing 64 B text with one message in flight, ${WARMUP} ms warm-up and a ${WINDOW} ms window; memory after GC with all of them still open.`,
  '',
  '| adapter | transport | idle heap / session | idle RSS / session | busy msgs/s | busy µs / msg | busy heap / session | busy RSS / session |',
  '|---|---|---:|---:|---:|---:|---:|---:|',
  ...rows.map(
    ({ adapter, transport, idle, busy }) =>
      `| ${adapter} | ${transport} | ${bytes(idle.heap)} | ${bytes(idle.rss)} | ${Math.round(busy.rate).toLocaleString('en-US')} | ${busy.cpu.toFixed(1)} | ${bytes(busy.heap)} | ${bytes(busy.rss)} |`,
  ),
];
console.log(lines.join('\n'));

if ('write' in args) {
  const file = new URL('./RESULTS.md', import.meta.url);
  const old = readFileSync(file, 'utf8');
  const marker = '<!-- bench/sse.mjs -->';
  const ratios = ADAPTERS.map((adapter) => {
    const [ws, sse] = ['WebSocket', 'SSE + POST'].map((transport) =>
      rows.find((row) => row.adapter === adapter.name && row.transport === transport),
    );
    return sse.idle.heap / ws.idle.heap;
  });
  const idleRatio = `${Math.min(...ratios).toFixed(1)} to ${Math.max(...ratios).toFixed(1)}`;
  const at = old.indexOf(marker);
  const section = [
    marker,
    '## 5. The SSE + POST fallback: one session next to one WebSocket',
    '',
    `Written by \`node bench/sse.mjs --write\` (a full \`pnpm bench\` keeps this section). Node ${process.version}; ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC; load average (1 min) ${loadStart} at start, ${os.loadavg()[0].toFixed(2)} at end.`,
    '',
    ...lines,
    '',
    `Each SSE message costs the server an HTTP POST (parsed, routed through the framework, answered 204) and one event on the stream, so its CPU per message is that of a small HTTP request, not of a frame. SSE msgs/s is bound by the load generator: one Node process runs every busy session with \`@switchyard/client\` over \`fetch\`, which costs it more per message than the server. Idle, a session holds its stream's response and socket, the session and its \`ws\`: ${idleRatio} times a WebSocket connection's heap. Busy, each also holds what the client has not acknowledged yet (acknowledgements ride on its POSTs, so a few events at most here).`,
    '',
  ].join('\n');
  writeFileSync(file, `${at === -1 ? `${old.trimEnd()}\n\n` : old.slice(0, at)}${section}`);
}
process.exit(0);
