#!/usr/bin/env node
/**
 * Cross-node delivery on one Redis: switchyard's pub/sub and streams modes against socket.io
 * with @socket.io/redis-adapter and @socket.io/redis-streams-adapter. Two app nodes, each a
 * process of its own; one publisher client on node A, subscribers on node B. Prints tables:
 *
 *   throughput  a burst of BURST messages sent as fast as the publisher can: messages delivered
 *               per second to each subscriber (first send to last receipt);
 *   latency     PACED messages, one per millisecond or so: send-to-receive p50 and p99;
 *   recovery    RECOVER clients on node B behind a TCP proxy, publishing 100 msg/s; the proxy
 *               drops every connection and refuses new ones for 2 s: time from the network's
 *               return until every client has every message (switchyard `recovery` vs socket.io
 *               connectionStateRecovery on the streams adapter, the one that supports it).
 *
 *   node bench/cluster.mjs [--burst=5000] [--paced=2000] [--subs=10] [--size=64] [--recover=1000] [--write]
 *
 * Redis runs without persistence here, the same for every row.
 */
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';

const args = Object.fromEntries(process.argv.slice(2).map((arg) => arg.replace(/^--/, '').split('=')));
const BURST = Number(args.burst ?? 5000);
const PACED = Number(args.paced ?? 2000);
const SUBS = Number(args.subs ?? 10);
const SIZE = Number(args.size ?? 64);
const RECOVER = Number(args.recover ?? 1000);
const now = () => performance.timeOrigin + performance.now();

// ---- a node: `node bench/cluster.mjs node <system> <redis url> <prefix>` prints its port ----
if (process.argv[2] === 'node') {
  const [, , , system, url, prefix] = process.argv;
  const server = http.createServer();
  if (system.startsWith('switchyard')) {
    const { default: express } = await import('express');
    const { websocket } = await import('@switchyard/express');
    const { redisHub } = await import('@switchyard/redis');
    const durable = system === 'switchyard-streams';
    const hub = redisHub({ url, prefix, durable: durable ? { maxLen: 100_000, ttl: 0 } : undefined });
    hub.on('error', () => {});
    await hub.ready();
    const app = express();
    app.use(
      '/feed',
      websocket({
        hub,
        heartbeat: false,
        ...(durable ? { recovery: { maxDisconnectionDuration: 30_000 } } : {}),
        open(ws) {
          if (ws.request.query.role === 'sub') ws.subscribe('feed');
        },
        message(ws, data) {
          void ws.publish('feed', data);
        },
      }),
    );
    server.on('request', app);
  } else {
    const { Server } = await import('socket.io');
    const { createClient } = await import('redis');
    const streams = system === 'socket.io-streams';
    const io = new Server(server, streams ? { connectionStateRecovery: { maxDisconnectionDuration: 30_000 } } : {});
    if (streams) {
      const { createAdapter } = await import('@socket.io/redis-streams-adapter');
      const client = createClient({ url });
      await client.connect();
      io.adapter(createAdapter(client, { streamName: `${prefix}stream` }));
    } else {
      const { createAdapter } = await import('@socket.io/redis-adapter');
      const pub = createClient({ url });
      const sub = pub.duplicate();
      await Promise.all([pub.connect(), sub.connect()]);
      io.adapter(createAdapter(pub, sub, { key: prefix }));
    }
    io.on('connection', (socket) => {
      if (socket.handshake.query.role === 'sub' && !socket.recovered) socket.join('feed');
      socket.on('m', (data) => io.to('feed').emit('m', data));
    });
  }
  server.listen(0, '127.0.0.1', () => process.stdout.write(`port ${server.address().port}\n`));
} else {
  await main();
}

async function spawnNode(system, url, prefix) {
  const child = spawn(process.execPath, [new URL(import.meta.url).pathname, 'node', system, url, prefix], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const port = await new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`${system} node exited with ${code}`)));
    let out = '';
    child.stdout.on('data', (chunk) => {
      out += chunk;
      const match = /port (\d+)/.exec(out);
      if (match) resolve(Number(match[1]));
    });
  });
  return { port, child };
}

/** A TCP proxy that can drop every connection and refuse new ones for a while. */
async function proxy(target) {
  const links = new Set();
  let blocked = false;
  const server = net.createServer((client) => {
    if (blocked) return client.destroy();
    const upstream = net.connect(target, '127.0.0.1');
    const link = [client, upstream];
    links.add(link);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      links.delete(link);
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: server.address().port,
    cut() {
      blocked = true;
      for (const [a, b] of links) {
        a.destroy();
        b.destroy();
      }
    },
    restore() {
      blocked = false;
    },
    close() {
      for (const [a, b] of links) {
        a.destroy();
        b.destroy();
      }
      server.close();
    },
  };
}

/** A client of either kind: `send(text)` and `onMessage(text => ...)`; resolves once connected. */
async function client(system, port, role, recover = false) {
  if (system.startsWith('switchyard')) {
    const { default: WebSocket } = await import('ws');
    const { connect } = await import('@switchyard/client');
    const socket = connect(`ws://127.0.0.1:${port}/feed?role=${role}`, {
      WebSocket,
      transports: ['websocket'],
      recover,
      reconnect: { initialDelay: 50, maxDelay: 200, jitter: 0 },
    });
    const handlers = [];
    socket.addEventListener('message', (event) => {
      for (const h of handlers) h(event.data);
    });
    await new Promise((resolve) => socket.addEventListener('open', resolve, { once: true }));
    if (recover) while (!socket.resumable) await sleep(5);
    return {
      send: (text) => socket.send(text),
      onMessage: (h) => handlers.push(h),
      onUnrecoverable: (h) => socket.addEventListener('unrecoverable', h),
      close: () => socket.close(),
    };
  }
  const { io } = await import('socket.io-client');
  const socket = io(`http://127.0.0.1:${port}`, {
    transports: ['websocket'],
    query: { role },
    reconnectionDelay: 50,
    reconnectionDelayMax: 200,
    randomizationFactor: 0,
  });
  await new Promise((resolve) => socket.once('connect', resolve));
  // Joined on the server in its connection handler; give the room a moment to reach the adapter.
  await sleep(20);
  return { send: (text) => socket.emit('m', text), onMessage: (h) => socket.on('m', h), close: () => socket.close() };
}

function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))];
}

async function deliveryRun(system, url, prefix) {
  const a = await spawnNode(system, url, prefix);
  const b = await spawnNode(system, url, prefix);
  try {
    const publisher = await client(system, a.port, 'pub');
    const subs = await Promise.all(Array.from({ length: SUBS }, () => client(system, b.port, 'sub')));
    await sleep(300);
    const pad = 'x'.repeat(Math.max(0, SIZE - 24));
    // Burst: throughput.
    let received = 0;
    let last = 0;
    let phase = 'burst';
    const latencies = [];
    for (const sub of subs) {
      sub.onMessage((text) => {
        const value = String(text);
        if (phase === 'burst') {
          received++;
          last = now();
        } else latencies.push(now() - Number(value.slice(0, value.indexOf(' '))));
      });
    }
    const start = now();
    for (let i = 0; i < BURST; i++) {
      publisher.send(`${now().toFixed(3)} ${pad}`);
      if (i % 500 === 499) await sleep(0);
    }
    const deadline = Date.now() + 60_000;
    while (received < BURST * SUBS && Date.now() < deadline) await sleep(20);
    const throughput = received / SUBS / ((last - start) / 1000);
    const complete = received === BURST * SUBS;
    await sleep(500);
    phase = 'paced';
    for (let i = 0; i < PACED; i++) {
      publisher.send(`${now().toFixed(3)} ${pad}`);
      await sleep(1);
    }
    const until = Date.now() + 10_000;
    while (latencies.length < PACED * SUBS && Date.now() < until) await sleep(20);
    latencies.sort((x, y) => x - y);
    for (const c of [publisher, ...subs]) c.close();
    return {
      throughput,
      complete,
      received,
      p50: percentile(latencies, 50),
      p99: percentile(latencies, 99),
      latencies: latencies.length,
    };
  } finally {
    a.child.kill('SIGKILL');
    b.child.kill('SIGKILL');
  }
}

async function recoveryRun(system, url, prefix) {
  const a = await spawnNode(system, url, prefix);
  const b = await spawnNode(system, url, prefix);
  const front = await proxy(b.port);
  try {
    const publisher = await client(system, a.port, 'pub');
    const clients = [];
    for (let i = 0; i < RECOVER; i += 50) {
      clients.push(
        ...(await Promise.all(
          Array.from({ length: Math.min(50, RECOVER - i) }, () => client(system, front.port, 'sub', true)),
        )),
      );
    }
    const got = clients.map(() => -1);
    const ok = clients.map(() => true);
    let unrecoverable = 0;
    const reasons = {};
    for (const c of clients)
      c.onUnrecoverable?.((event) => {
        unrecoverable++;
        for (const t of event.topics) reasons[t.reason] = (reasons[t.reason] ?? 0) + 1;
      });
    for (const [k, c] of clients.entries()) {
      c.onMessage((text) => {
        const n = Number(String(text).split(' ')[1]);
        if (n !== got[k] + 1) ok[k] = false;
        got[k] = n;
      });
    }
    await sleep(500);
    let sent = 0;
    let publishing = true;
    const pacing = (async () => {
      while (publishing) {
        publisher.send(`0 ${sent++}`);
        await sleep(10);
      }
    })();
    await sleep(500);
    front.cut();
    await sleep(2000);
    const target = sent - 1;
    const back = now();
    front.restore();
    const deadline = Date.now() + 60_000;
    while (got.some((n) => n < target) && Date.now() < deadline) await sleep(10);
    const time = now() - back;
    const caughtUp = got.filter((n) => n >= target).length;
    publishing = false;
    await pacing;
    for (const c of [publisher, ...clients]) c.close();
    if (unrecoverable > 0) console.error('unrecoverable reasons', reasons);
    return { time, caughtUp, gapless: ok.filter(Boolean).length, unrecoverable };
  } finally {
    front.close();
    a.child.kill('SIGKILL');
    b.child.kill('SIGKILL');
  }
}

async function main() {
  const port = await new Promise((resolve) => {
    const probe = net.createServer().listen(0, '127.0.0.1', () => {
      const { port: free } = probe.address();
      probe.close(() => resolve(free));
    });
  });
  const redis = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    { stdio: 'ignore' },
  );
  for (let up = false; !up; await sleep(50)) {
    up = await new Promise((resolve) =>
      net
        .connect(port, '127.0.0.1')
        .once('connect', function () {
          this.destroy();
          resolve(true);
        })
        .once('error', () => resolve(false)),
    );
    if (redis.exitCode !== null) throw new Error(`redis-server exited with ${redis.exitCode}`);
  }
  const url = `redis://127.0.0.1:${port}`;
  const lines = [];
  const load = os
    .loadavg()
    .map((n) => n.toFixed(1))
    .join(' ');
  try {
    lines.push(
      `${SUBS} subscribers on node B, one publisher on node A, ${SIZE} B messages; burst of ${BURST}, then ${PACED} paced at ~1/ms. ${os.cpus().length} cores, load average ${load} at the start (shared, loaded machine: compare rows, not absolute numbers).`,
      '',
    );
    lines.push(
      '| system | delivered msgs/s per subscriber | all delivered | p50 latency ms | p99 latency ms |',
      '|---|---:|---:|---:|---:|',
    );
    for (const system of ['switchyard-pubsub', 'switchyard-streams', 'socket.io-redis', 'socket.io-streams']) {
      const r = await deliveryRun(system, url, `bench:${system}:`);
      lines.push(
        `| ${system} | ${Math.round(r.throughput).toLocaleString('en-US')} | ${r.complete ? 'yes' : `${r.received}/${BURST * SUBS}`} | ${r.p50?.toFixed(2)} | ${r.p99?.toFixed(2)} |`,
      );
      console.error(lines.at(-1));
    }
    if (RECOVER > 0) {
      lines.push(
        '',
        `Recovery: ${RECOVER} clients on node B behind one TCP proxy, 100 msg/s published on node A; every connection dropped and refused for 2 s. Time from the network's return until every client has every message.`,
        '',
      );
      lines.push(
        '| system | caught up | with no gap | told "unrecoverable" | time to catch up ms |',
        '|---|---:|---:|---:|---:|',
      );
      for (const system of ['switchyard-streams', 'socket.io-streams']) {
        const r = await recoveryRun(system, url, `bench:rec:${system}:`);
        lines.push(
          `| ${system === 'switchyard-streams' ? 'switchyard `recovery`' : 'socket.io connectionStateRecovery'} | ${r.caughtUp}/${RECOVER} | ${r.gapless}/${RECOVER} | ${system === 'switchyard-streams' ? r.unrecoverable : 'n/a'} | ${Math.round(r.time).toLocaleString('en-US')} |`,
        );
        console.error(lines.at(-1));
      }
    }
  } finally {
    redis.kill('SIGKILL');
  }
  const table = lines.join('\n');
  console.log(table);
  if ('write' in args) {
    const file = new URL('./RESULTS.md', import.meta.url);
    const marker = '<!-- bench/cluster.mjs -->';
    const old = readFileSync(file, 'utf8');
    const head = old.includes(marker) ? old.slice(0, old.indexOf(marker)) : `${old.trimEnd()}\n\n`;
    writeFileSync(
      file,
      `${head}${marker}\n## Across nodes on Redis: pub/sub, streams, socket.io (\`node bench/cluster.mjs\`)\n\nRun at ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC.\n\n${table}\n`,
    );
  }
  process.exit(0);
}
