#!/usr/bin/env node
/**
 * Where a server spends its time or memory, for one workload of the benchmark.
 *
 *   node bench/profile.mjs cpu SERVER WORKLOAD [--seconds=5] [--top=25]
 *       WORKLOAD: echo64, echo16k, handshake, get, broadcast1k, broadcast10k
 *       Profiles exactly the measured window (inspector, 100 µs sampling), prints self time by
 *       function and by package, and the inclusive time of switchyard's own functions. The
 *       .cpuprofile opens in Chrome DevTools. --focus=FUNCTION breaks down the time under one
 *       function (e.g. --focus=deliver).
 *   node bench/profile.mjs heap SERVER [--connections=5000]
 *       Heap snapshots before and after that many idle connections; prints what each connection
 *       added, by object type and constructor.
 *
 * SERVER is a file name in bench/servers/ without .mjs (ws, switchyard-express, ...).
 * Output files go to $BENCH_PROFILE_DIR, default /tmp/switchyard-bench.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { SERVERS, broadcastRun, echoRun, handshakeRun, startLoad, startServer, withLoad } from './drive.mjs';

const [kind, id, workload] = process.argv.slice(2).filter((arg) => !arg.startsWith('--'));
const flags = Object.fromEntries(
  process.argv
    .slice(2)
    .filter((arg) => arg.startsWith('--'))
    .map((arg) => arg.slice(2).split('=')),
);
const spec = SERVERS.find((server) => server.id === id);
if (!spec || !['cpu', 'heap'].includes(kind) || (kind === 'cpu' && !workload)) {
  process.stderr.write('usage: node bench/profile.mjs cpu SERVER WORKLOAD | heap SERVER\n');
  process.exit(2);
}
const dir = process.env.BENCH_PROFILE_DIR ?? '/tmp/switchyard-bench';
mkdirSync(dir, { recursive: true });

const seconds = Number(flags.seconds ?? 5);
const top = Number(flags.top ?? 25);

async function cpu() {
  const server = await startServer(spec);
  const file = join(dir, `${id}-${workload}.cpuprofile`);
  const settings = {
    warmup: 1000,
    handshakeWarmup: 2000,
    window: seconds * 1000,
    echoConnections: 100,
    concurrency: 50,
    deliveries: 200_000,
  };
  try {
    const run = {
      echo64: () => echoRun(server, spec, settings, 64),
      echo16k: () => echoRun(server, spec, settings, 16 * 1024),
      handshake: () => handshakeRun(server, spec, settings, spec.tcp ? 'tcp' : 'ws'),
      get: () => handshakeRun(server, spec, settings, 'http'),
      broadcast1k: () => broadcastRun(server, spec, settings, 1000),
      broadcast10k: () => broadcastRun(server, spec, settings, 10_000),
    }[workload];
    if (!run) throw new Error(`unknown workload ${workload}`);
    // Only the measured window is profiled, after the warm-up.
    settings.profile = {
      start: () => server.rpc({ cmd: 'profileStart' }),
      stop: () => server.rpc({ cmd: 'profileStop', path: file }),
    };
    const result = await run();
    process.stdout.write(`${id} ${workload}: ${JSON.stringify(result)}\n${file}\n\n`);
    summarize(JSON.parse(readFileSync(file, 'utf8')), result.cpu);
  } finally {
    await server.stop();
  }
}

/** Where a frame comes from: switchyard, ws, a framework, Node itself, or V8. */
function packageOf(url) {
  if (!url) return '(v8)';
  const pnpm = url.match(/node_modules\/\.pnpm\/([^/]+)\/node_modules\/((?:@[^/]+\/)?[^/]+)/);
  if (pnpm) return pnpm[2];
  const workspace = url.match(/\/packages\/([^/]+)\//);
  if (workspace) return `@switchyard/${workspace[1]}`;
  if (url.startsWith('node:')) return 'node';
  if (url.includes('/bench/')) return 'bench';
  return url;
}

function where({ url, lineNumber }) {
  return `${url
    .replace(/^.*node_modules\/\.pnpm\/[^/]+\/node_modules\//, '')
    .replace(/^.*\/packages\//, 'packages/')
    .replace(/^file:\/\//, '')}:${lineNumber + 1}`;
}

/**
 * Prints shares of the busy (non-idle) samples, and µs per operation: the share times the
 * server CPU per operation that process.cpuUsage() measured over the same window.
 */
function summarize(profile, cpuPerOp) {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const intervals = profile.timeDeltas;
  const self = new Map();
  // Sample times, not hit counts, so that idle gaps are weighted by how long they lasted.
  for (let i = 0; i < profile.samples.length; i++) {
    const node = byId.get(profile.samples[i]);
    self.set(node.id, (self.get(node.id) ?? 0) + (intervals[i] ?? 0));
  }
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  const idle = [...self]
    .filter(([nodeId]) => byId.get(nodeId).callFrame.functionName === '(idle)')
    .reduce((a, [, t]) => a + t, 0);
  const busy = total - idle;
  const pct = (t) =>
    `${((100 * t) / busy).toFixed(1).padStart(5)}%  ${((cpuPerOp * t) / busy).toFixed(2).padStart(7)} µs`;

  const byFunction = new Map();
  const byPackage = new Map();
  for (const [nodeId, time] of self) {
    const { callFrame } = byId.get(nodeId);
    if (callFrame.functionName === '(idle)') continue;
    const key = `${callFrame.functionName || '(anonymous)'} ${callFrame.url ? where(callFrame) : ''}`;
    byFunction.set(key, (byFunction.get(key) ?? 0) + time);
    const pkg = packageOf(callFrame.url);
    byPackage.set(pkg, (byPackage.get(pkg) ?? 0) + time);
  }
  process.stdout.write(
    `busy ${(busy / 1000).toFixed(0)} ms of ${(total / 1000).toFixed(0)} ms sampled; ${cpuPerOp.toFixed(2)} µs of server CPU per operation\n\nself time by package:\n`,
  );
  for (const [pkg, time] of [...byPackage].sort((a, b) => b[1] - a[1]).slice(0, 15))
    process.stdout.write(`  ${pct(time)}  ${pkg}\n`);
  process.stdout.write('\nself time by function:\n');
  for (const [key, time] of [...byFunction].sort((a, b) => b[1] - a[1]).slice(0, top))
    process.stdout.write(`  ${pct(time)}  ${key}\n`);

  // Inclusive time of every function from switchyard's packages, counted once per stack.
  const inclusive = new Map();
  const parent = new Map();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  for (const [nodeId, time] of self) {
    const seen = new Set();
    for (let at = nodeId; at !== undefined; at = parent.get(at)) {
      const { callFrame } = byId.get(at);
      if (!/\/packages\/[^/]+\/dist\//.test(callFrame.url)) continue;
      const key = `${callFrame.functionName || '(anonymous)'} ${where(callFrame)}`;
      if (seen.has(key)) continue;
      seen.add(key);
      inclusive.set(key, (inclusive.get(key) ?? 0) + time);
    }
  }
  if (flags.focus) {
    // Self time of everything running under one function, e.g. --focus=deliver.
    const under = new Map();
    let sum = 0;
    for (const [nodeId, time] of self) {
      let inside = false;
      for (let at = nodeId; at !== undefined && !inside; at = parent.get(at))
        inside = byId.get(at).callFrame.functionName === flags.focus;
      if (!inside) continue;
      sum += time;
      const { callFrame } = byId.get(nodeId);
      const key = `${callFrame.functionName || '(anonymous)'} ${callFrame.url ? where(callFrame) : ''}`;
      under.set(key, (under.get(key) ?? 0) + time);
    }
    process.stdout.write(`\nunder ${flags.focus}: ${pct(sum)}\n`);
    for (const [key, time] of [...under].sort((a, b) => b[1] - a[1]).slice(0, top))
      process.stdout.write(`  ${pct(time)}  ${key}\n`);
  }
  if (inclusive.size > 0) {
    process.stdout.write('\ninclusive time of switchyard functions:\n');
    for (const [key, time] of [...inclusive].sort((a, b) => b[1] - a[1]).slice(0, top))
      process.stdout.write(`  ${pct(time)}  ${key}\n`);
  }
}

async function heap() {
  const connections = Number(flags.connections ?? 5000);
  const server = await startServer(spec);
  try {
    await withLoad((load) =>
      load.rpc({ cmd: 'open', port: server.port, path: '/echo', connections: 200, tcp: !!spec.tcp }),
    );
    await sleep(300);
    const before = join(dir, `${id}-before.heapsnapshot`);
    const after = join(dir, `${id}-after.heapsnapshot`);
    await server.rpc({ cmd: 'heapSnapshot', path: before }, 120_000);
    const load = await startLoad();
    try {
      const { opened } = await load.rpc(
        { cmd: 'open', port: server.port, path: '/echo', connections, tcp: !!spec.tcp },
        120_000,
      );
      await sleep(500);
      await server.rpc({ cmd: 'heapSnapshot', path: after }, 120_000);
      const a = tally(before);
      const b = tally(after);
      const rows = [];
      for (const [key, { count, size }] of b) {
        const old = a.get(key) ?? { count: 0, size: 0 };
        rows.push([key, (count - old.count) / opened, (size - old.size) / opened]);
      }
      const sum = rows.reduce((s, [, , size]) => s + size, 0);
      process.stdout.write(
        `${id}: ${opened} idle connections, ${sum.toFixed(0)} B of heap objects each (self sizes)\n\n`,
      );
      process.stdout.write('   bytes/conn  objects/conn  type: name\n');
      for (const [key, count, size] of rows.sort((x, y) => y[2] - x[2]).slice(0, top)) {
        process.stdout.write(`  ${size.toFixed(1).padStart(10)}  ${count.toFixed(2).padStart(12)}  ${key}\n`);
      }
    } finally {
      await load.rpc({ cmd: 'stop' }).catch(() => {});
      await load.stop();
    }
  } finally {
    await server.stop();
  }
}

/** Count and self size of a heap snapshot's nodes by type and name (strings by type only). */
function tally(file) {
  const snapshot = JSON.parse(readFileSync(file, 'utf8'));
  const {
    node_fields: fields,
    node_types: [types],
  } = snapshot.snapshot.meta;
  const width = fields.length;
  const [TYPE, NAME, SIZE] = ['type', 'name', 'self_size'].map((field) => fields.indexOf(field));
  const { nodes, strings } = snapshot;
  const counts = new Map();
  for (let i = 0; i < nodes.length; i += width) {
    const type = types[nodes[i + TYPE]];
    // Synthetic nodes are the snapshot's own roots, not heap objects.
    if (type === 'synthetic') continue;
    const named =
      type === 'object' ||
      type === 'closure' ||
      type === 'native' ||
      type === 'hidden' ||
      type === 'array' ||
      type === 'object shape';
    const key = named ? `${type}: ${strings[nodes[i + NAME]].slice(0, 60)}` : type;
    const entry = counts.get(key) ?? { count: 0, size: 0 };
    entry.count++;
    entry.size += nodes[i + SIZE];
    counts.set(key, entry);
  }
  return counts;
}

await (kind === 'cpu' ? cpu() : heap());
