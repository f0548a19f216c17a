#!/usr/bin/env node
/**
 * Mass resume after a node is SIGKILLed (issue 24). Two app nodes share one redis-server; node A
 * publishes a numbered message RATE times a second to topic `feed`; N clients, all on node B,
 * are subscribed with recovery on. Node B is killed with SIGKILL, and a standby (started before,
 * code loaded and Redis connected) listens on the same port --down ms later (default 500); every
 * client comes back at once. Measured:
 *
 *   caught up     time from node B listening again (and from the kill) until every client has the
 *                 message that was last published at that moment, with no gap
 *   handshakes    TCP connections node B accepted after the restart, per client (1.00 is ideal)
 *   lost, dup     messages a client skipped (a gap), or got twice (over the whole run; must be 0);
 *                 "still missing": what clients had not received 10 s after the last publish
 *   overflows     the kernel's ListenOverflows and TCPSynRetrans during the resume (whole machine)
 *   Redis         commands per client during the resume, and Redis's CPU
 *
 * switchyard: @switchyard/express with `recovery` on the durable @switchyard/redis hub, clients
 * @switchyard/client (`recover: true`, WebSocket only, default backoff and livenessTimeout).
 * socket.io: connectionStateRecovery on @socket.io/redis-streams-adapter, socket.io-client
 * (WebSocket only, default reconnection). The same N, rate and machine, one after the other.
 *
 *   node bench/resume.mjs [--clients=1000,5000,10000] [--rate=2] [--procs=4] [--backlog=511[,4096]]
 *                         [--only=switchyard,socket.io] [--deadline=180] [--down=500] [--write[=label]]
 *                         [--client=PATH]
 *
 * --client=PATH: the switchyard clients import @switchyard/client from PATH (a build's
 * dist/index.js, say a copy of the one before a change) instead of the workspace's, so that two
 * client builds can be compared in turns on the same loaded machine.
 *
 * The clients run in --procs processes, each with its own loopback source addresses
 * (127.0.0.2 …) so that ephemeral ports never run out; the run raises `ulimit -n` itself.
 */
import { fork } from 'node:child_process';
import http from 'node:http';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  difference,
  fmt,
  freePort,
  listenCounters,
  machine,
  startRedis,
  withRaisedLimits,
  writeSection,
} from './scale-kit.mjs';

const self = fileURLToPath(import.meta.url);

// ---- an app node (IPC from the runner) ----------------------------------------------------

async function runNode() {
  const { system, port, url, prefix, backlog, publisher, standby } = JSON.parse(process.argv[3]);
  const server = http.createServer();
  const counts = { connections: 0, opens: 0, recovered: 0 };
  server.on('connection', () => counts.connections++);
  let publish;
  if (system === 'switchyard') {
    const { default: express } = await import('express');
    const { websocket } = await import('@switchyard/express');
    const { redisHub } = await import('@switchyard/redis');
    const hub = redisHub({ url, prefix, durable: { maxLen: 100_000, ttl: 0 } });
    hub.on('error', (error) => console.error(`node ${port}: hub: ${error.message}`));
    await hub.ready();
    const app = express();
    app.use(
      '/feed',
      websocket({
        hub,
        recovery: { maxDisconnectionDuration: 120_000 },
        open(ws) {
          counts.opens++;
          if (ws.recovered) counts.recovered++;
          ws.subscribe('feed');
        },
      }),
    );
    server.on('request', app);
    publish = (text) => hub.publish('feed', text);
  } else {
    const { Server } = await import('socket.io');
    const { createClient } = await import('redis');
    const { createAdapter } = await import('@socket.io/redis-streams-adapter');
    const io = new Server(server, {
      transports: ['websocket'],
      connectionStateRecovery: { maxDisconnectionDuration: 120_000, skipMiddlewares: true },
    });
    const client = createClient({ url });
    await client.connect();
    io.adapter(createAdapter(client, { streamName: `${prefix}stream`, maxLen: 100_000 }));
    io.on('connection', (socket) => {
      counts.opens++;
      if (socket.recovered) counts.recovered++;
      else socket.join('feed');
    });
    publish = (text) => io.to('feed').emit('m', text);
  }
  // The publisher: one message every 1000/rate ms, each after the previous one was acknowledged.
  const feed = { sent: 0, running: false };
  const pump = async (rate) => {
    const every = 1000 / rate;
    let next = performance.now();
    while (feed.running) {
      await publish(String(feed.sent + 1));
      feed.sent++;
      next += every;
      await sleep(Math.max(0, next - performance.now()));
    }
  };
  process.on('message', ({ id, cmd, rate }) => {
    if (cmd === 'start' && publisher) {
      feed.running = true;
      feed.done = pump(rate);
      process.send({ id, result: true });
    } else if (cmd === 'stop') {
      feed.running = false;
      Promise.resolve(feed.done).then(() => process.send({ id, result: feed.sent }));
    } else if (cmd === 'sent') process.send({ id, result: feed.sent });
    else if (cmd === 'counts') process.send({ id, result: counts });
    // The node's own CPU (user + system, µs) since it started: sampled at the restart and at
    // the moment every client has caught up, the difference is what the resume cost it.
    else if (cmd === 'cpu') {
      const { user, system: sys } = process.cpuUsage();
      process.send({ id, result: user + sys });
    }
    // A clean exit, so that --cpu-prof writes its profile.
    else if (cmd === 'exit') {
      process.send({ id, result: true });
      setImmediate(() => process.exit(0));
    }
  });
  process.on('disconnect', () => process.exit(0));
  const listen = () => new Promise((resolve) => server.listen({ port, host: '127.0.0.1', backlog }, resolve));
  // A standby has loaded its code and connected to Redis; it listens when told (the restart).
  if (standby) {
    process.on('message', ({ id, cmd }) => {
      if (cmd === 'listen') listen().then(() => process.send({ id, result: true }));
    });
    process.send({ type: 'ready' });
  } else listen().then(() => process.send({ type: 'ready' }));
}

// ---- a client process: holds a share of the clients (IPC from the runner) -------------------

function runClients() {
  const { system, port, count, sourceBase, client } = JSON.parse(process.argv[3]);
  const last = new Int32Array(count).fill(-1);
  const stats = { lost: 0, announced: 0, dup: 0, open: 0, unrecoverable: 0, everOpened: 0 };
  // Clients that opened again since `mark` (the kill): each counted once.
  const reopened = new Uint8Array(count);
  let marked = false;
  let reopenedCount = 0;
  const opened = (k) => {
    stats.open++;
    stats.everOpened++;
    if (marked && reopened[k] === 0) {
      reopened[k] = 1;
      reopenedAtMs[k] = Date.now();
      reopenedCount++;
    }
  };
  const sockets = [];
  /**
   * From the kill (`mark`) on, per client: when each attempt started (a WebSocket constructed),
   * and when the client opened again; Date.now() ms, compared with the runner's clock.
   */
  const attempts = Array.from({ length: count }, () => []);
  const reopenedAtMs = new Float64Array(count);
  let nextSource = 0;
  // 40 loopback source addresses per process, none shared with another process.
  const source = () => `127.${1 + sourceBase}.0.${2 + (nextSource++ % 40)}`;
  // A gap after an `unrecoverable` event for the topic was announced; any other is silent.
  const announced = new Uint8Array(count);
  const received = (k, text) => {
    const n = Number(text);
    if (last[k] === -1) last[k] = n;
    else if (n <= last[k]) stats.dup++;
    else {
      if (n > last[k] + 1) {
        if (announced[k] === 1) stats.announced += n - last[k] - 1;
        else stats.lost += n - last[k] - 1;
      }
      announced[k] = 0;
      last[k] = n;
    }
  };

  async function openOne(k) {
    const localAddress = source();
    if (system === 'switchyard') {
      const { default: WebSocket } = await import('ws');
      const { connect } = await import(client ?? '@switchyard/client');
      class Bound extends WebSocket {
        constructor(url, protocols) {
          super(url, protocols, { localAddress });
          if (marked) attempts[k].push(Date.now());
        }
      }
      const socket = connect(`ws://127.0.0.1:${port}/feed`, {
        WebSocket: Bound,
        transports: ['websocket'],
        recover: true,
      });
      socket.addEventListener('message', (event) => received(k, event.data));
      socket.addEventListener('unrecoverable', (event) => {
        stats.unrecoverable++;
        announced[k] = 1;
        for (const { reason } of event.topics) {
          const key = `unrecoverable:${reason}`;
          stats[key] = (stats[key] ?? 0) + 1;
        }
      });
      socket.addEventListener('close', () => stats.open--);
      socket.addEventListener('open', () => opened(k));
      sockets.push(socket);
      await new Promise((resolve) => socket.addEventListener('open', resolve, { once: true }));
      while (!socket.resumable) await sleep(5);
    } else {
      const { io } = await import('socket.io-client');
      const socket = io(`http://127.0.0.1:${port}`, { transports: ['websocket'], localAddress });
      socket.io.on('reconnect_attempt', () => {
        if (marked) attempts[k].push(Date.now());
      });
      socket.on('m', (text) => received(k, text));
      socket.on('connect', () => opened(k));
      socket.on('disconnect', () => stats.open--);
      sockets.push(socket);
      await new Promise((resolve) => socket.once('connect', resolve));
    }
  }

  const commands = {
    async open() {
      let next = 0;
      const worker = async () => {
        while (next < count) await openOne(next++);
      };
      await Promise.all(Array.from({ length: 50 }, worker));
      return count;
    },
    state({ target }) {
      let atTarget = 0;
      let min = Number.POSITIVE_INFINITY;
      for (const n of last) {
        if (n >= target) atTarget++;
        if (n < min) min = n;
      }
      return { ...stats, atTarget, min, reopened: reopenedCount };
    },
    /** Messages still missing at the end: the tail a client never got counts as lost. */
    finish({ final }) {
      let missing = 0;
      for (const n of last) missing += Math.max(0, final - Math.max(n, 0));
      return { ...stats, missing };
    },
    mark() {
      marked = true;
      return true;
    },
    /** Per client that reopened: its attempts' start times and when it opened (ms, Date.now()). */
    timings() {
      const out = [];
      for (let k = 0; k < count; k++) if (reopened[k]) out.push([attempts[k], reopenedAtMs[k]]);
      return out;
    },
    close() {
      for (const socket of sockets) socket.close();
      return true;
    },
  };
  process.on('message', ({ id, cmd, ...rest }) => {
    Promise.resolve(commands[cmd](rest)).then((result) => process.send({ id, result }));
  });
  process.on('disconnect', () => process.exit(0));
  process.send({ type: 'ready' });
}

// ---- the runner ---------------------------------------------------------------------------

const args = Object.fromEntries(
  process.argv.slice(2).map((arg) => {
    const [key, value = ''] = arg.replace(/^--/, '').split('=');
    return [key, value];
  }),
);

/** --client=PATH, as a file URL for import(); undefined: the workspace's @switchyard/client. */
const clientModule = args.client ? pathToFileURL(args.client).href : undefined;

function child(kind, options, execArgv = process.execArgv) {
  const process_ = fork(self, [kind, JSON.stringify(options)], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    execArgv,
  });
  const calls = new Map();
  let nextId = 0;
  const ready = new Promise((resolve, reject) => {
    process_.on('message', (message) => {
      if (message.type === 'ready') return resolve();
      calls.get(message.id)?.(message.result);
      calls.delete(message.id);
    });
    process_.once('exit', (code, signal) => reject(new Error(`${kind} exited (${signal ?? code})`)));
  });
  ready.catch(() => {});
  return {
    ready,
    process: process_,
    rpc(cmd, rest = {}) {
      const id = nextId++;
      return new Promise((resolve) => {
        calls.set(id, resolve);
        process_.send({ id, cmd, ...rest });
      });
    },
    kill(signal = 'SIGTERM') {
      const gone = new Promise((resolve) => (process_.exitCode !== null ? resolve() : process_.once('exit', resolve)));
      process_.kill(signal);
      return gone;
    },
  };
}

async function sum(clients, cmd, rest) {
  const parts = await Promise.all(clients.map((c) => c.rpc(cmd, rest)));
  const total = {};
  for (const part of parts)
    for (const [key, value] of Object.entries(part))
      total[key] = key === 'min' ? Math.min(total[key] ?? value, value) : (total[key] ?? 0) + value;
  return total;
}

async function resumeRun(system, n, redis, run, backlogArg) {
  const rate = Number(args.rate || 2);
  const procs = Math.max(1, Math.min(Number(args.procs || 4), Math.ceil(n / 500)));
  const backlog = backlogArg;
  const prefix = `bench:resume:${run}:`;
  const portA = await freePort();
  const portB = await freePort();
  const nodeOptions = { system, url: redis.url, prefix, backlog };
  const a = child('node', { ...nodeOptions, port: portA, publisher: true });
  let b = child('node', { ...nodeOptions, port: portB });
  const clients = [];
  try {
    await Promise.all([a.ready, b.ready]);
    await a.rpc('start', { rate });
    for (let i = 0; i < procs; i++) {
      const count = Math.floor(n / procs) + (i < n % procs ? 1 : 0);
      clients.push(child('client', { system, port: portB, count, sourceBase: i, client: clientModule }));
    }
    await Promise.all(clients.map((c) => c.ready));
    await Promise.all(clients.map((c) => c.rpc('open')));
    // Every client has had a message: the subscriptions are live before the kill.
    const sent = await a.rpc('sent');
    for (const until = performance.now() + 60_000; ; await sleep(100)) {
      const state = await sum(clients, 'state', { target: sent + 1 });
      if (state.atTarget === n) break;
      if (performance.now() > until) throw new Error(`only ${state.atTarget} of ${n} clients had a message`);
    }
    await sleep(1000);
    const netBefore = listenCounters();
    const redisBefore = redis.counters();
    // The replacement is loaded and connected to Redis before the kill, as a supervisor's
    // standby would be: the time measured is the herd's, not Node's start-up on a busy machine.
    // --prof=DIR: the standby runs under --cpu-prof and writes its profile there on exit.
    const profile = args.prof
      ? ['--cpu-prof', `--cpu-prof-dir=${args.prof}`, `--cpu-prof-name=${system}-${n}.cpuprofile`]
      : [];
    const standby = child('node', { ...nodeOptions, port: portB, standby: true }, [...process.execArgv, ...profile]);
    await standby.ready;
    await Promise.all(clients.map((c) => c.rpc('mark')));
    const killedAt = performance.now();
    const killedAtMs = Date.now();
    await b.kill('SIGKILL');
    b = standby;
    await sleep(Number(args.down ?? 500));
    const cpuBefore = await b.rpc('cpu');
    await b.rpc('listen');
    const back = performance.now();
    const backAtMs = Date.now();
    const target = await a.rpc('sent');
    let caughtAt;
    let reopenedAt;
    let state;
    const deadline = back + Number(args.deadline || 180) * 1000;
    for (;;) {
      state = await sum(clients, 'state', { target });
      if (reopenedAt === undefined && state.reopened === n) reopenedAt = performance.now();
      if (state.atTarget === n) {
        caughtAt = performance.now();
        break;
      }
      if (performance.now() > deadline) break;
      await sleep(20);
    }
    const cpuResume = (await b.rpc('cpu')) - cpuBefore;
    const timings = (await Promise.all(clients.map((c) => c.rpc('timings')))).flat();
    const netAfter = listenCounters();
    const redisAfter = redis.counters();
    const counts = await b.rpc('counts');
    if (args.prof) await b.rpc('exit');
    const final = await a.rpc('stop');
    // Let the last messages arrive, then count what is missing.
    for (const until = performance.now() + 10_000; performance.now() < until; await sleep(100)) {
      if ((await sum(clients, 'state', { target: final })).atTarget === n) break;
    }
    const end = await sum(clients, 'finish', { final });
    const calls = difference(redisAfter.calls, redisBefore.calls);
    return {
      system,
      n,
      backlog,
      down: back - killedAt,
      fromBack: caughtAt === undefined ? NaN : caughtAt - back,
      reopenedIn: reopenedAt === undefined ? NaN : reopenedAt - back,
      fromKill: caughtAt === undefined ? NaN : caughtAt - killedAt,
      caughtUp: state.atTarget,
      gap: target - state.min,
      handshakes: counts.connections / n,
      opens: counts.opens / n,
      recovered: counts.recovered,
      lost: end.lost,
      announced: end.announced,
      missing: end.missing,
      dup: end.dup,
      unrecoverable: end.unrecoverable,
      reasons: Object.entries(end)
        .filter(([key]) => key.startsWith('unrecoverable:'))
        .map(([key, value]) => `${key.slice('unrecoverable:'.length)} ${value}`)
        .join(', '),
      net: difference(netAfter, netBefore),
      redisCalls: calls,
      redisPerClient: Object.values(calls).reduce((x, y) => x + y, 0) / n,
      redisCpu: redisAfter.cpu - redisBefore.cpu,
      // The standby's CPU from listening until every client caught up, per client (µs).
      cpuPerClient: cpuResume / n,
      cpuMs: cpuResume / 1000,
      ...attemptStats(timings, killedAtMs, backAtMs),
    };
  } finally {
    await Promise.all(clients.map((c) => c.kill('SIGKILL')));
    await a.kill('SIGKILL');
    await b.kill('SIGKILL');
  }
}

const quantile = (sorted, q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
const spreadOf = (values) => {
  const sorted = [...values].sort((x, y) => x - y);
  return `${fmt(quantile(sorted, 0.5))} / ${fmt(quantile(sorted, 0.9))} / ${fmt(sorted.at(-1) ?? NaN)}`;
};

/**
 * Where each client's time went, from its attempts after the kill: how many it made, when its
 * last one (the one that got in) started after the restart (its backoff), and how long that one
 * took to open (the node: accept queue, handshake, session, replay up to the session frame).
 */
function attemptStats(timings, killedAtMs, backAtMs) {
  const histogram = [0, 0, 0, 0, 0];
  const before = [];
  const lastStart = [];
  const served = [];
  for (const [starts, openedAt] of timings) {
    histogram[Math.min(starts.length, 4)]++;
    before.push(starts.filter((t) => t < backAtMs).length);
    const last = starts.at(-1);
    if (last === undefined) continue;
    lastStart.push(last - backAtMs);
    served.push(openedAt - last);
  }
  const first = timings.map(([starts]) => (starts[0] ?? NaN) - killedAtMs).filter((t) => !Number.isNaN(t));
  return {
    attemptsHistogram: histogram,
    attemptsPerClient: timings.reduce((x, [starts]) => x + starts.length, 0) / Math.max(1, timings.length),
    refusedPerClient: before.reduce((x, y) => x + y, 0) / Math.max(1, before.length),
    firstAttempt: spreadOf(first),
    lastStart: spreadOf(lastStart),
    served: spreadOf(served),
  };
}

function topCalls(calls, n) {
  return Object.entries(calls)
    .filter(([, value]) => value > 0)
    .sort((x, y) => y[1] - x[1])
    .slice(0, 5)
    .map(([name, value]) => `${name} ${fmt(value / n, 2)}`)
    .join(', ');
}

async function main() {
  const sizes = (args.clients || '1000,5000,10000').split(',').map(Number);
  const systems = (args.only || 'switchyard,socket.io').split(',');
  const rate = Number(args.rate || 2);
  const redis = await startRedis();
  const startedAt = new Date();
  const before = machine();
  const rows = [];
  let run = 0;
  const backlogs = args.backlog ? args.backlog.split(',').map(Number) : [undefined];
  try {
    for (const n of sizes) {
      for (const backlog of backlogs)
        for (const system of systems) {
          try {
            const r = await resumeRun(system, n, redis, run++, backlog);
            rows.push(r);
            console.error(
              `${system} ${n}: node CPU ${fmt(r.cpuMs)} ms (${fmt(r.cpuPerClient)} µs per client); attempts per client ${fmt(r.attemptsPerClient, 2)} [0,1,2,3,4+: ${r.attemptsHistogram.join(',')}], ${fmt(r.refusedPerClient, 2)} while down; first attempt after the kill p50/p90/max ${r.firstAttempt} ms; last attempt after the restart ${r.lastStart} ms; that attempt to open ${r.served} ms`,
            );
            console.error(
              `${system} ${n}: reconnected ${fmt(r.reopenedIn)} ms, caught up ${fmt(r.fromBack)} ms after restart (${r.caughtUp}/${n}), ${fmt(r.handshakes, 2)} handshakes/client, lost ${r.lost}, missing at the end ${r.missing}, dup ${r.dup}, unrecoverable ${r.unrecoverable} (${r.reasons}), overflows ${r.net.ListenOverflows}, syn retrans ${r.net.TCPSynRetrans}, redis ${topCalls(r.redisCalls, n)}`,
            );
          } catch (error) {
            rows.push({ system, n, backlog, error: String(error.message ?? error) });
            console.error(`${system} ${n}: ${error.stack ?? error}`);
          }
        }
    }
  } finally {
    redis.stop();
  }
  const lines = [
    `Node B holds N clients subscribed to one durable topic; node A publishes ${rate} msg/s. Node B is SIGKILLed; a standby process (code loaded, Redis connected) listens on the same port ${args.down ?? 500} ms later. Backlog ${args.backlog || "Node's default (511)"} (\`server.listen({ backlog })\`, capped by net.core.somaxconn); clients in up to ${args.procs || 4} processes${args.client ? `, @switchyard/client from ${args.client}` : ''}. Machine at the start: ${before}. At the end: ${machine()}.`,
    '',
    '| system | N | backlog | node down ms | all reconnected, ms after restart | all caught up, ms after restart | from the kill | caught up | handshakes per client | resumed | lost (silent gaps) | still missing 10 s after the last publish | duplicated | told "unrecoverable" (messages in those gaps) | ListenOverflows | SYN retransmits | Redis calls per client (top 5) | Redis CPU s | node CPU per client µs | attempts per client | last attempt, ms after restart (p50 / p90 / max) | that attempt to open, ms (p50 / p90 / max) |',
    `|---|${'---:|'.repeat(15)}---|---:|---:|---:|---|---|`,
  ];
  for (const r of rows) {
    if (r.error) {
      lines.push(`| ${r.system} | ${fmt(r.n)} | ${r.backlog ?? 511} | failed: ${r.error.split('\n')[0]} |`);
      continue;
    }
    lines.push(
      `| ${r.system} | ${fmt(r.n)} | ${r.backlog ?? 511} | ${fmt(r.down)} | ${fmt(r.reopenedIn)} | ${fmt(r.fromBack)} | ${fmt(r.fromKill)} | ${r.caughtUp}/${r.n} | ${fmt(r.handshakes, 2)} | ${fmt(r.recovered)} | ${fmt(r.lost)} | ${fmt(r.missing)} | ${fmt(r.dup)} | ${r.system === 'switchyard' ? `${fmt(r.unrecoverable)}${r.reasons ? ` (${r.reasons}; ${fmt(r.announced)})` : ''}` : 'n/a'} | ${fmt(r.net.ListenOverflows)} | ${fmt(r.net.TCPSynRetrans)} | ${topCalls(r.redisCalls, r.n)} | ${fmt(r.redisCpu, 2)} | ${fmt(r.cpuPerClient)} | ${fmt(r.attemptsPerClient, 2)} | ${r.lastStart} | ${r.served} |`,
    );
  }
  for (const system of systems) {
    const one = rows.find((r) => r.system === system && r.n === Math.min(...sizes) && !r.error);
    const big = rows.find((r) => r.system === system && r.n === Math.max(...sizes) && !r.error);
    if (backlogs.length > 1) continue;
    if (one && big && one !== big)
      lines.push(
        '',
        `${system}: ${fmt(big.n)} clients took ${fmt(big.fromBack / one.fromBack, 1)}× the time of ${fmt(one.n)} (linear would be ${fmt(big.n / one.n)}×; the goal is at most 10×).`,
      );
  }
  const table = lines.join('\n');
  console.log(table);
  if ('write' in args) {
    const label = args.write || 'main';
    await writeSection(
      `<!-- bench/resume.mjs ${label} -->`,
      `## Resume after a node SIGKILL, ${label} (issue 24): \`node bench/resume.mjs${process.argv
        .slice(2)
        .filter((a) => !a.startsWith('--write'))
        .map((a) => ` ${a}`)
        .join('')}\`\n\nRun at ${startedAt.toISOString().slice(0, 16).replace('T', ' ')} UTC.\n\n${table}\n`,
    );
  }
  process.exit(0);
}

const role = process.argv[2];
if (role === 'node') await runNode();
else if (role === 'client') runClients();
else {
  withRaisedLimits();
  await main();
}
