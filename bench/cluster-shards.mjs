#!/usr/bin/env node
/**
 * Redis Cluster, 1, 3 and 6 shards (masters, no replicas): switchyard's redisHub({ cluster })
 * in pub/sub and durable mode against socket.io with @socket.io/redis-adapter's
 * createShardedAdapter (SPUBLISH/SSUBSCRIBE, dynamic subscriptions), in the same run.
 *
 * Two app nodes in this process, A and B, each with its own cluster clients. TOPICS topics, one
 * WebSocket (socket.io) client subscribed to each on node B. Node A publishes MESSAGES messages
 * of SIZE bytes round-robin over the topics, WINDOW in flight at once. Columns:
 *
 *   publishes/s   messages node A handed to Redis per second (switchyard: publish promises
 *                 resolved; socket.io: emit() is fire-and-forget, so the send loop's rate);
 *   delivered/s   messages that reached node B's clients per second, first publish to last receipt;
 *   per sub/s     delivered/s divided by the subscribers (each gets its topic's share).
 *
 *   node bench/cluster-shards.mjs [--messages=20000] [--topics=48] [--size=64] [--window=256] [--write]
 *
 * Each cluster is started here from redis-server on free ports (slots split evenly with
 * CLUSTER ADDSLOTSRANGE, nodes joined with CLUSTER MEET), no persistence, and stopped after.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const args = Object.fromEntries(process.argv.slice(2).map((arg) => arg.replace(/^--/, '').split('=')));
const MESSAGES = Number(args.messages ?? 20_000);
const TOPICS = Number(args.topics ?? 48);
const SIZE = Number(args.size ?? 64);
const WINDOW = Number(args.window ?? 256);
const SHARDS = (args.shards ?? '1,3,6').split(',').map(Number);

// socket.io's sharded adapter unsubscribes an emptied room without handling a rejection, and
// node-redis rejects that when its cluster client closes meanwhile: not a measurement error.
process.on('unhandledRejection', (error) => {
  if (error?.message !== 'The client is closed') throw error;
});

const cli = (port, ...argv) =>
  new Promise((resolve, reject) =>
    execFile('redis-cli', ['-p', String(port), ...argv], (error, stdout) => (error ? reject(error) : resolve(stdout))),
  );

async function freePort() {
  const server = net.createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function startCluster(shards) {
  const dir = mkdtempSync(join(os.tmpdir(), 'sy-bench-cluster-'));
  const nodes = [];
  for (let i = 0; i < shards; i++) {
    const [port, bus] = [await freePort(), await freePort()];
    const child = spawn(
      'redis-server',
      [
        '--port',
        String(port),
        '--cluster-port',
        String(bus),
        '--bind',
        '127.0.0.1',
        '--cluster-enabled',
        'yes',
        '--cluster-config-file',
        `nodes-${port}.conf`,
        '--dir',
        dir,
        '--save',
        '',
        '--appendonly',
        'no',
      ],
      { stdio: 'ignore' },
    );
    process.setMaxListeners(0);
    process.once('exit', () => child.kill('SIGKILL'));
    nodes.push({ port, bus, child });
  }
  for (const node of nodes) while ((await cli(node.port, 'PING').catch(() => '')).trim() !== 'PONG') await sleep(20);
  const per = Math.ceil(16384 / shards);
  for (let i = 0; i < shards; i++) {
    await cli(nodes[i].port, 'CLUSTER', 'ADDSLOTSRANGE', String(i * per), String(Math.min(16383, (i + 1) * per - 1)));
    if (i > 0) await cli(nodes[i].port, 'CLUSTER', 'MEET', '127.0.0.1', String(nodes[0].port), String(nodes[0].bus));
  }
  const deadline = Date.now() + 20_000;
  for (;;) {
    const states = await Promise.all(nodes.map((node) => cli(node.port, 'CLUSTER', 'INFO')));
    if (states.every((info) => info.includes('cluster_state:ok') && info.includes(`cluster_known_nodes:${shards}`)))
      break;
    if (Date.now() > deadline) throw new Error('cluster did not form');
    await sleep(100);
  }
  return {
    rootNodes: nodes.map((node) => ({ url: `redis://127.0.0.1:${node.port}` })),
    async stop() {
      for (const node of nodes) node.child.kill('SIGKILL');
      await sleep(100);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const listen = (server) =>
  new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server.address().port)));

/** switchyard: node B's endpoint subscribes each client to ?topic=; node A publishes through its hub. */
async function switchyard(cluster, durable) {
  const { default: express } = await import('express');
  const { websocket } = await import('@switchyard/express');
  const { redisHub } = await import('@switchyard/redis');
  const { default: WebSocket } = await import('ws');
  const prefix = `b${Date.now()}:`;
  const options = {
    cluster: { rootNodes: cluster.rootNodes },
    prefix,
    durable: durable ? { maxLen: 100_000, ttl: 0 } : undefined,
  };
  const [a, b] = [redisHub(options), redisHub(options)];
  let outages = 0;
  for (const hub of [a, b]) hub.on('error', () => outages++);
  await Promise.all([a.ready(), b.ready()]);
  const app = express();
  app.use('/feed', websocket({ hub: b, heartbeat: false, open: (ws) => ws.subscribe(String(ws.request.query.topic)) }));
  const server = http.createServer(app);
  const port = await listen(server);
  const clients = await Promise.all(
    Array.from(
      { length: TOPICS },
      (_, i) =>
        new Promise((resolve, reject) => {
          const ws = new WebSocket(`ws://127.0.0.1:${port}/feed?topic=t${i}`);
          ws.once('open', () => resolve(ws));
          ws.once('error', reject);
        }),
    ),
  );
  for (let i = 0; i < TOPICS; i++) await b.whenSubscribed(`t${i}`);
  const system = {
    rejected: 0,
    get outages() {
      return outages;
    },
    onMessage: (fn) => {
      for (const ws of clients) ws.on('message', fn);
    },
    async publishAll(payload) {
      let next = 0;
      const worker = async () => {
        while (next < MESSAGES) {
          const i = next++;
          await a.publish(`t${i % TOPICS}`, payload).catch(() => {
            system.rejected++;
          });
        }
      };
      await Promise.all(Array.from({ length: WINDOW }, worker));
    },
    async close() {
      for (const ws of clients) ws.terminate();
      server.closeAllConnections();
      server.close();
      await Promise.all([a.close(), b.close()]);
    },
  };
  return system;
}

/** socket.io with createShardedAdapter: node B's sockets join room ?topic=; node A emits to rooms. */
async function socketio(cluster) {
  const { Server } = await import('socket.io');
  const { createShardedAdapter } = await import('@socket.io/redis-adapter');
  const { createCluster } = await import('redis');
  const { io: connect } = await import('socket.io-client');
  const servers = [];
  const redis = [];
  for (let n = 0; n < 2; n++) {
    const pub = createCluster({ rootNodes: cluster.rootNodes });
    const sub = pub.duplicate();
    pub.on('error', () => {});
    sub.on('error', () => {});
    await Promise.all([pub.connect(), sub.connect()]);
    redis.push(pub, sub);
    const server = http.createServer();
    const io = new Server(server, { adapter: createShardedAdapter(pub, sub, { subscriptionMode: 'dynamic' }) });
    io.on('connection', (socket) => socket.join(String(socket.handshake.query.topic)));
    servers.push({ server, io, port: await listen(server) });
  }
  const [a, b] = servers;
  const clients = await Promise.all(
    Array.from(
      { length: TOPICS },
      (_, i) =>
        new Promise((resolve, reject) => {
          const socket = connect(`http://127.0.0.1:${b.port}`, {
            transports: ['websocket'],
            query: { topic: `t${i}` },
          });
          socket.once('connect', () => resolve(socket));
          socket.once('connect_error', reject);
        }),
    ),
  );
  // Dynamic mode subscribes a room's channel when its first socket joins: give it time.
  await sleep(500);
  return {
    onMessage: (fn) => {
      for (const socket of clients) socket.on('m', fn);
    },
    async publishAll(payload) {
      for (let i = 0; i < MESSAGES; i++) {
        a.io.to(`t${i % TOPICS}`).emit('m', payload);
        if (i % WINDOW === WINDOW - 1) await new Promise((resolve) => setImmediate(resolve));
      }
    },
    async close() {
      for (const socket of clients) socket.close();
      // The adapter unsubscribes emptied rooms after the sockets leave: before its clients close.
      await sleep(300);
      for (const { io, server } of servers) {
        io.close();
        server.closeAllConnections?.();
      }
      await Promise.all(redis.map((client) => client.close().catch(() => {})));
    },
  };
}

async function measure(system) {
  const payload = Buffer.alloc(SIZE, 120).toString();
  let received = 0;
  let last = 0;
  system.onMessage(() => {
    received++;
    last = performance.now();
  });
  const start = performance.now();
  await system.publishAll(payload);
  const published = performance.now();
  const deadline = Date.now() + 30_000;
  while (received < MESSAGES && Date.now() < deadline) await sleep(20);
  await system.close();
  return {
    rejected:
      system.rejected === undefined ? 'n/a (emit has no reply)' : `${system.rejected} (${system.outages} outages)`,
    publishes: MESSAGES / ((published - start) / 1000),
    delivered: received / ((last - start) / 1000),
    complete: received === MESSAGES ? 'yes' : `${received}/${MESSAGES}`,
  };
}

const fmt = (n) => Math.round(n).toLocaleString('en-US');
const rows = [];
for (const shards of SHARDS) {
  const cluster = await startCluster(shards);
  try {
    for (const [name, make] of [
      ['switchyard pub/sub', () => switchyard(cluster, false)],
      ['switchyard durable', () => switchyard(cluster, true)],
      ['socket.io createShardedAdapter', () => socketio(cluster)],
    ]) {
      const result = await measure(await make());
      rows.push({ shards, name, ...result });
      console.error(
        `${shards} shards, ${name}: ${fmt(result.publishes)} publishes/s, ${fmt(result.delivered)} delivered/s (${result.complete})`,
      );
    }
  } finally {
    await cluster.stop();
  }
}

const load = os
  .loadavg()
  .map((n) => n.toFixed(1))
  .join(' ');
const table = [
  '| shards | system | publishes/s | delivered/s | per subscriber/s | all delivered | publishes rejected |',
  '|---:|---|---:|---:|---:|---:|---:|',
  ...rows.map(
    (r) =>
      `| ${r.shards} | ${r.name} | ${fmt(r.publishes)} | ${fmt(r.delivered)} | ${fmt(r.delivered / TOPICS)} | ${r.complete} | ${r.rejected} |`,
  ),
].join('\n');
console.log(
  `\n${MESSAGES} messages of ${SIZE} B over ${TOPICS} topics, one subscriber each on node B, ${WINDOW} in flight; load ${load}\n\n${table}`,
);

if ('write' in args) {
  const file = new URL('./RESULTS.md', import.meta.url);
  const heading = '## Redis Cluster: 1, 3 and 6 shards (`node bench/cluster-shards.mjs`)';
  const section = `${heading}\n\nRun at ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC. ${MESSAGES} messages of ${SIZE} B published on node A, round-robin over ${TOPICS} topics, ${WINDOW} in flight; one WebSocket subscriber per topic on node B; both nodes and all clients in one process. ${os.cpus().length} cores, load average ${load} at the end (shared machine: compare rows of one run, not absolute numbers).\n\n${table}\n`;
  let text = readFileSync(file, 'utf8');
  const at = text.indexOf(heading);
  if (at >= 0) {
    const end = text.indexOf('\n## ', at + heading.length);
    text = text.slice(0, at) + section + (end >= 0 ? text.slice(end + 1) : '');
  } else text = `${text.trimEnd()}\n\n${section}`;
  writeFileSync(file, text);
}
process.exit(0);
