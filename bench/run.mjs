#!/usr/bin/env node
/**
 * `pnpm bench`: switchyard against raw TCP, raw ws and every peer adapter, in one run.
 *
 *   node bench/run.mjs            the full run (under 10 minutes); writes bench/RESULTS.md
 *   node bench/run.mjs --quick    about a minute, fewer repeats and connections; prints only
 *
 * Options: --repeats=N, --warmup=MS, --window=MS, --only=ws,switchyard-express (the raw ws baseline is always kept),
 * --metrics=echo,handshake,memory,broadcast, --out=FILE (also write the report there).
 *
 *   node bench/run.mjs --compare [--only=... --metrics=...]
 *       also compares each server's ratios to raw ws with bench/baseline.json and exits with 1
 *       when one grew by more than 10% (bench/baseline.mjs); `--check` is the same.
 *   node bench/run.mjs --record [...]   writes this run's ratios into bench/baseline.json
 *       (a full run writes it anyway, with RESULTS.md); --baseline=FILE reads and writes another file.
 *
 * Every server is a small program in bench/servers/. For echo and handshakes, each round starts
 * all of them afresh and measures every metric on every server in turn (A B C, A B C...), each
 * idle while another is measured; memory and broadcast start a fresh server process per server
 * and round. Tables show medians. The load generator (bench/load.mjs) is a process of its own;
 * server CPU comes from process.cpuUsage() in the server, read over IPC at the edges of each
 * measuring window, so the client's own cost never counts.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { compare, ratiosOf, readBaseline, writeBaseline } from './baseline.mjs';
import {
  PAYLOAD_BYTES,
  SERVERS,
  broadcastRun,
  echoRun,
  handshakeRun,
  memoryRun,
  onServer,
  startServer,
} from './drive.mjs';

const here = (path) => fileURLToPath(new URL(path, import.meta.url));

const PROFILES = {
  // Handshakes run more framework and WebSocket code per operation than echo does, and V8 is
  // still compiling it (on threads that process.cpuUsage() counts) for over a second. So is the
  // echo through a framework: in 400 ms windows from the first message (load 8-10, 2026-12-08,
  // 3 rounds), CPU per 64 B echo through switchyard or @fastify/websocket was 2-4.7× its steady
  // value in the first window, up to 1.5× in the second and up to 1.15× in the third; raw ws's
  // was within 1.05× from the second on. An 800 ms warm-up counted that tail against them.
  full: {
    repeats: 4,
    memoryRepeats: 3,
    warmup: 800,
    echoWarmup: 2000,
    handshakeWarmup: 1800,
    window: 1000,
    echoConnections: 100,
    concurrency: 50,
    idle: 10_000,
    fanout: [1_000, 10_000],
    deliveries: 80_000,
  },
  quick: {
    repeats: 1,
    memoryRepeats: 1,
    warmup: 300,
    echoWarmup: 300,
    handshakeWarmup: 300,
    window: 400,
    echoConnections: 100,
    concurrency: 50,
    idle: 2_000,
    fanout: [1_000, 2_000],
    deliveries: 30_000,
  },
};

const ECHO_SIZES = [64, 16 * 1024];
const TARGETS = { echo: 1.05, handshake: 1.1, heapBytes: 512, broadcast: 1.3 };

function parseArgs(argv) {
  const args = {
    quick: false,
    only: undefined,
    metrics: ['echo', 'handshake', 'memory', 'broadcast'],
    out: undefined,
    repeats: undefined,
    compare: false,
    record: false,
    baseline: here('./baseline.json'),
  };
  for (const arg of argv) {
    const [name, value] = arg.replace(/^--/, '').split('=');
    if (name === 'quick') args.quick = true;
    else if (name === 'only') args.only = value.split(',');
    else if (name === 'metrics') args.metrics = value.split(',');
    else if (name === 'out') args.out = value;
    else if (name === 'repeats') args.repeats = Number(value);
    else if (name === 'compare' || name === 'check') args.compare = true;
    else if (name === 'record') args.record = true;
    else if (name === 'baseline') args.baseline = value;
    else if (name === 'warmup' || name === 'window') args[name] = Number(value);
    else throw new TypeError(`bench: unknown option ${arg}`);
  }
  return args;
}

// ---------------------------------------------------------------------------------------------
// Statistics and the report

function median(values) {
  const numbers = values.filter((value) => Number.isFinite(value)).sort((a, b) => a - b);
  if (numbers.length === 0) return NaN;
  const middle = numbers.length >> 1;
  return numbers.length % 2 ? numbers[middle] : (numbers[middle - 1] + numbers[middle]) / 2;
}

class Results {
  #samples = new Map();

  add(metric, server, value) {
    const key = `${metric}|${server}`;
    if (!this.#samples.has(key)) this.#samples.set(key, []);
    this.#samples.get(key).push(value);
  }

  get(metric, server) {
    return median(this.#samples.get(`${metric}|${server}`) ?? []);
  }

  samples(metric, server) {
    return this.#samples.get(`${metric}|${server}`) ?? [];
  }
}

const integer = (value) => (Number.isFinite(value) ? Math.round(value).toLocaleString('en-US') : '–');
const fixed = (digits) => (value) => (Number.isFinite(value) ? value.toFixed(digits) : '–');
const ratio = (value, base) =>
  Number.isFinite(value) && Number.isFinite(base) && base > 0 ? `${(value / base).toFixed(2)}×` : '–';
const bytes = (value) => (Number.isFinite(value) ? `${Math.round(value).toLocaleString('en-US')} B` : '–');
const signedBytes = (value) =>
  Number.isFinite(value) ? `${value >= 0 ? '+' : '−'}${Math.abs(Math.round(value)).toLocaleString('en-US')} B` : '–';

function table(header, rows) {
  const lines = [`| ${header.join(' | ')} |`, `|${header.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`];
  for (const row of rows) lines.push(`| ${row.join(' | ')} |`);
  return lines.join('\n');
}

function routingCost(results, framework) {
  const adapter = SERVERS.find((server) => server.framework === framework && server.peer);
  return results.get('http.cpu', adapter.id) - results.get('http.cpu', 'ws');
}

function report(results, servers, settings, meta, failures) {
  const out = [];
  const has = (metric) => servers.some((server) => results.samples(metric, server.id).length > 0);
  const ws = (metric) => results.get(metric, 'ws');

  out.push('# switchyard benchmarks', '');
  out.push(`- Machine: ${meta.cpu}, ${meta.cores} cores, ${meta.memory} GiB; ${meta.platform}`);
  out.push(
    `- Node ${meta.node}; ws ${meta.ws}${meta.bufferutil ? ' with bufferutil' : ''}; ${meta.date}; ${meta.source}`,
  );
  out.push(
    `- Load average (1 min) at start ${meta.loadStart}, at end ${meta.loadEnd}; the load generator shares these cores.`,
  );
  out.push(
    `- Profile: ${meta.profile}. ${settings.repeats} rounds, each measuring every metric on every server in turn ` +
      `(${settings.warmup} ms warm-up, ${settings.echoWarmup} ms for echoes, ${settings.handshakeWarmup} ms for handshakes and GETs, then a ${settings.window} ms window), with fresh server processes each round; memory and broadcast: ${settings.memoryRepeats} rounds, ` +
      `a fresh server process each. Tables show medians. Run time ${meta.duration}.`,
  );
  out.push(
    '- µs figures are server CPU (user + system, from `process.cpuUsage()` in the server) per operation; ratios are against raw ws in the same run.',
  );
  if (meta.serverFlags)
    out.push(`- Every server ran with the Node flags \`${meta.serverFlags}\` (BENCH_SERVER_FLAGS).`);
  out.push('');

  if (has('echo64.cpu')) {
    out.push(`## 1. Echo: ${settings.echoConnections} connections, one binary message in flight on each`, '');
    const rows = servers.map((server) => [
      server.name,
      ...ECHO_SIZES.flatMap((size) => [
        integer(results.get(`echo${size}.rate`, server.id)),
        fixed(2)(results.get(`echo${size}.cpu`, server.id)),
        ratio(results.get(`echo${size}.cpu`, server.id), ws(`echo${size}.cpu`)),
      ]),
    ]);
    out.push(
      table(['server', '64 B msgs/s', '64 B µs/msg', '× ws', '16 KiB msgs/s', '16 KiB µs/msg', '× ws'], rows),
      '',
    );
  }

  if (has('handshake.cpu')) {
    out.push(`## 2. Handshakes: open, one 64 B echo, close; ${settings.concurrency} at a time`, '');
    out.push(
      'Every framework server has one middleware in front (an Express `app.use`, a Koa `app.use`, a Fastify `onRequest` hook). ' +
        '"GET µs" is the same server answering a plain `GET /http` (new connection each, `Connection: close`) through that middleware, ' +
        'leaving the framework the way an upgrade does (raw `res.end`, Koa `respond = false`, Fastify `reply.hijack()`); ' +
        "the framework's routing cost is that minus the bare Node server's GET.",
      '',
    );
    const rows = servers.map((server) => {
      const framework = server.framework;
      const routing = framework ? routingCost(results, framework) : NaN;
      return [
        server.name,
        integer(results.get('handshake.rate', server.id)),
        fixed(1)(results.get('handshake.cpu', server.id)),
        ratio(results.get('handshake.cpu', server.id), ws('handshake.cpu')),
        server.tcp ? '–' : fixed(1)(results.get('http.cpu', server.id)),
        framework ? fixed(1)(routing) : server.id === 'ws' ? '0 (bare Node)' : '–',
        server.peer ? fixed(1)(TARGETS.handshake * ws('handshake.cpu') + routing) : '',
      ];
    });
    out.push(
      table(['server', 'handshakes/s', 'µs/handshake', '× ws', 'GET µs', 'routing µs', 'target ≤ µs'], rows),
      '',
    );
  }

  if (has('memory.heap')) {
    out.push(
      `## 3. Idle memory: ${settings.idle.toLocaleString('en-US')} open connections, after GC (\`--expose-gc\`)`,
      '',
    );
    const rows = servers.map((server) => [
      server.name,
      bytes(results.get('memory.heap', server.id)),
      server.id === 'ws' ? '' : signedBytes(results.get('memory.heap', server.id) - ws('memory.heap')),
      bytes(results.get('memory.rss', server.id)),
      bytes(results.get('memory.external', server.id)),
    ]);
    out.push(table(['server', 'heap / conn', 'heap vs ws', 'RSS / conn', 'external / conn'], rows), '');
  }

  if (has(`broadcast${settings.fanout[0]}.rate`)) {
    out.push(
      `## 4. Broadcast: ${PAYLOAD_BYTES} B text publishes to ${settings.fanout.map((n) => n.toLocaleString('en-US')).join(' and ')} subscribers`,
      '',
    );
    out.push(
      'switchyard publishes through its hub (`createHub()`, `ws.subscribe`, `hub.publish`); raw ws and the peers loop `ws.send` over a Set; ' +
        'crossws uses its own `publish`; raw TCP writes one pre-built frame to every socket. One publish at a time: the next goes out once the ' +
        'client holds every byte of the last. Deliveries/s is end to end; µs/delivery is server CPU, and its "× ws" is how many deliveries ' +
        'a server makes in the CPU time raw ws needs for one; "fan-out µs" is the wall time inside the synchronous publish call, per delivery.',
      '',
    );
    const rows = servers.map((server) => [
      server.name,
      ...settings.fanout.flatMap((n) => [
        integer(results.get(`broadcast${n}.rate`, server.id)),
        ratio(results.get(`broadcast${n}.rate`, server.id), ws(`broadcast${n}.rate`)),
        fixed(2)(results.get(`broadcast${n}.cpu`, server.id)),
        ratio(ws(`broadcast${n}.cpu`), results.get(`broadcast${n}.cpu`, server.id)),
        fixed(2)(results.get(`broadcast${n}.publish`, server.id)),
      ]),
    ]);
    const header = [
      'server',
      ...settings.fanout.flatMap((n) => {
        const k = `${n / 1000}k`;
        return [`${k} deliveries/s`, '× ws', `${k} µs/delivery`, '× ws', `${k} fan-out µs`];
      }),
    ];
    out.push(table(header, rows), '');
  }

  out.push('## Targets', '');
  out.push(targets(results, servers, settings), '');
  if (failures.length > 0) {
    out.push('## Failures', '');
    for (const failure of failures) out.push(`- ${failure}`);
    out.push('');
  }
  out.push(
    'Rerun with `pnpm bench` (the full run, under 10 minutes; writes this file) or `pnpm bench --quick` (about a minute; prints only). ' +
      'Where a number looks odd, `node bench/profile.mjs cpu SERVER WORKLOAD` and `node bench/profile.mjs heap SERVER` show where the time or memory goes.',
  );
  return out.join('\n');
}

function targets(results, servers, settings) {
  const rows = [];
  const verdict = (ok) => (ok === undefined ? '–' : ok ? 'met' : '**missed**');
  const ws = (metric) => results.get(metric, 'ws');
  for (const adapter of servers.filter((server) => server.peer)) {
    const id = adapter.id;
    const peer = SERVERS.find((server) => server.id === adapter.peer);
    const known = (value) => (Number.isFinite(value) ? value : undefined);
    for (const size of ECHO_SIZES) {
      const mine = results.get(`echo${size}.cpu`, id);
      const base = ws(`echo${size}.cpu`);
      const ok = known(mine) !== undefined && known(base) !== undefined ? mine <= TARGETS.echo * base : undefined;
      rows.push([
        adapter.name,
        `echo ${size === 64 ? '64 B' : '16 KiB'} CPU/msg ≤ ${TARGETS.echo} × ws`,
        `${fixed(2)(mine)} vs ${fixed(2)(TARGETS.echo * base)} µs (${ratio(mine, base)})`,
        verdict(ok),
      ]);
    }
    {
      const mine = results.get('handshake.cpu', id);
      const routing = routingCost(results, adapter.framework);
      const bound = TARGETS.handshake * ws('handshake.cpu') + routing;
      const ok = Number.isFinite(mine) && Number.isFinite(bound) ? mine <= bound : undefined;
      rows.push([
        adapter.name,
        `handshake CPU ≤ ${TARGETS.handshake} × ws + routing`,
        `${fixed(1)(mine)} vs ${fixed(1)(bound)} µs (ws ${fixed(1)(ws('handshake.cpu'))}, routing ${fixed(1)(routing)})`,
        verdict(ok),
      ]);
    }
    {
      const mine = results.get('memory.heap', id);
      const bound = ws('memory.heap') + TARGETS.heapBytes;
      const ok = Number.isFinite(mine) && Number.isFinite(bound) ? mine <= bound : undefined;
      rows.push([
        adapter.name,
        `heap/idle conn ≤ ws + ${TARGETS.heapBytes} B`,
        `${bytes(mine)} vs ${bytes(bound)}`,
        verdict(ok),
      ]);
    }
    for (const n of settings.fanout) {
      const rate = results.get(`broadcast${n}.rate`, id);
      const baseRate = ws(`broadcast${n}.rate`);
      const cpu = results.get(`broadcast${n}.cpu`, id);
      const baseCpu = ws(`broadcast${n}.cpu`);
      const floor = results.get(`broadcast${n}.cpu`, 'tcp');
      const known = (...values) => values.every((value) => Number.isFinite(value));
      rows.push([
        adapter.name,
        `broadcast ${n / 1000}k ≥ ${TARGETS.broadcast} × ws.send loop, end to end`,
        `${integer(rate)} vs ${integer(TARGETS.broadcast * baseRate)}/s (${ratio(rate, baseRate)})`,
        verdict(known(rate, baseRate) ? rate >= TARGETS.broadcast * baseRate : undefined),
      ]);
      rows.push([
        adapter.name,
        `broadcast ${n / 1000}k ≥ ${TARGETS.broadcast} × ws.send loop, per server CPU`,
        `${fixed(2)(cpu)} vs ${fixed(2)(baseCpu / TARGETS.broadcast)} µs (${ratio(baseCpu, cpu)}; the raw TCP floor is ${ratio(baseCpu, floor)})`,
        verdict(known(cpu, baseCpu) ? baseCpu >= TARGETS.broadcast * cpu : undefined),
      ]);
    }
    // Ahead of its peer: less server CPU per echo and per handshake, less heap per idle
    // connection, more deliveries per second.
    const ahead = [
      ...ECHO_SIZES.map((size) => [
        `echo ${size === 64 ? '64 B' : '16 KiB'} µs`,
        results.get(`echo${size}.cpu`, id),
        results.get(`echo${size}.cpu`, peer.id),
        -1,
      ]),
      ['handshake µs', results.get('handshake.cpu', id), results.get('handshake.cpu', peer.id), -1],
      ['heap/conn B', results.get('memory.heap', id), results.get('memory.heap', peer.id), -1],
      ...settings.fanout.map((n) => [
        `broadcast ${n / 1000}k/s`,
        results.get(`broadcast${n}.rate`, id),
        results.get(`broadcast${n}.rate`, peer.id),
        1,
      ]),
      ...settings.fanout.map((n) => [
        `broadcast ${n / 1000}k µs`,
        results.get(`broadcast${n}.cpu`, id),
        results.get(`broadcast${n}.cpu`, peer.id),
        -1,
      ]),
    ];
    const measured = ahead.filter(([, mine, theirs]) => Number.isFinite(mine) && Number.isFinite(theirs));
    const behind = measured.filter(([, mine, theirs, sign]) => (mine - theirs) * sign <= 0);
    const detail =
      behind.length === 0
        ? `ahead on all ${measured.length}`
        : `behind on ${behind.map(([name, mine, theirs]) => `${name} (${fixed(1)(mine)} vs ${fixed(1)(theirs)})`).join(', ')}`;
    rows.push([
      adapter.name,
      `ahead of ${peer.name} on every metric`,
      detail,
      verdict(measured.length === 0 ? undefined : behind.length === 0),
    ]);
  }
  return table(['adapter', 'target', 'this run', 'verdict'], rows);
}

function machine(profile) {
  const require = createRequire(import.meta.url);
  let bufferutil = false;
  try {
    createRequire(require.resolve('@switchyard/core'))('bufferutil');
    bufferutil = true;
  } catch {}
  const cpus = os.cpus();
  return {
    cpu: cpus[0]?.model.trim() ?? 'unknown CPU',
    cores: cpus.length,
    memory: Math.round(os.totalmem() / 2 ** 30),
    platform: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    ws: require('ws/package.json').version,
    bufferutil,
    serverFlags: process.env.BENCH_SERVER_FLAGS?.trim() || undefined,
    date: `${new Date().toISOString().replace('T', ' ').slice(0, 16)} UTC`,
    loadStart: os.loadavg()[0].toFixed(2),
    profile,
    source: sourceState(),
  };
}

/** The commit measured, and whether the packages had uncommitted changes. */
function sourceState() {
  try {
    const git = (...args) => execFileSync('git', args, { cwd: here('..'), encoding: 'utf8' }).trim();
    const dirty = git('status', '--porcelain', '--', 'packages').length > 0;
    return `commit ${git('rev-parse', '--short', 'HEAD')}${dirty ? ', with uncommitted changes in packages/' : ''}`;
  } catch {
    return 'not a git checkout';
  }
}

/** Starts every server at once; one that fails to start is recorded and left out. */
async function startServers(servers, failures) {
  const running = new Map();
  for (const spec of servers) {
    try {
      running.set(spec.id, await startServer(spec));
    } catch (error) {
      failures.push(`${spec.id}: did not start: ${String(error.message).split('\n')[0]}`);
    }
  }
  return running;
}

// ---------------------------------------------------------------------------------------------

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const profile = args.quick ? 'quick' : 'full';
  const settings = { ...PROFILES[profile] };
  if (args.repeats) settings.repeats = settings.memoryRepeats = args.repeats;
  if (args.warmup) settings.warmup = settings.echoWarmup = settings.handshakeWarmup = args.warmup;
  if (args.window) settings.window = args.window;
  const servers = SERVERS.filter((server) => !args.only || server.id === 'ws' || args.only.includes(server.id));
  const metrics = new Set(args.metrics);
  const meta = machine(profile);
  const started = performance.now();
  const results = new Results();
  const failures = [];
  const log = (line) => process.stderr.write(`${line}\n`);
  log(`switchyard bench (${profile}): ${servers.length} servers, load average ${meta.loadStart}`);

  // Throughput: each round starts every server afresh (so that one process's bad luck, a JIT
  // or GC state, stays in one sample) and measures every metric on every server in turn, idle
  // while another is measured, so that a burst of load from elsewhere on the machine lands on
  // one sample of many servers, not on many of one.
  const throughput = [
    ...(metrics.has('echo')
      ? ECHO_SIZES.map((size) => ({
          key: `echo${size}`,
          label: `echo ${size === 64 ? '64 B' : '16 KiB'}`,
          run: (server, spec, options) => echoRun(server, spec, options, size),
        }))
      : []),
    ...(metrics.has('handshake')
      ? [
          {
            key: 'handshake',
            label: 'handshakes',
            run: (server, spec, options) => handshakeRun(server, spec, options, spec.tcp ? 'tcp' : 'ws'),
          },
          {
            key: 'http',
            label: 'GET',
            skip: (spec) => spec.tcp,
            run: (server, spec, options) => handshakeRun(server, spec, options, 'http'),
          },
        ]
      : []),
  ];
  for (let round = 0; round < settings.repeats && throughput.length > 0; round++) {
    const running = await startServers(servers, failures);
    try {
      for (const metric of throughput) {
        const parts = [];
        for (const spec of servers) {
          const server = running.get(spec.id);
          if (!server || metric.skip?.(spec)) continue;
          try {
            const { rate, cpu, failed } = await metric.run(server, spec, settings);
            results.add(`${metric.key}.rate`, spec.id, rate);
            results.add(`${metric.key}.cpu`, spec.id, cpu);
            if (failed) failures.push(`${spec.id} ${metric.label}: ${failed} failed in one window`);
            parts.push(`${spec.id} ${fixed(metric.key.startsWith('echo') ? 2 : 1)(cpu)}`);
          } catch (error) {
            failures.push(`${spec.id} ${metric.label}: ${String(error.message).split('\n')[0]}`);
          }
        }
        log(`  [${round + 1}/${settings.repeats}] ${metric.label} µs: ${parts.join('  ')}`);
      }
    } finally {
      await Promise.all([...running.values()].map((server) => server.stop()));
    }
  }

  for (let round = 0; round < settings.memoryRepeats; round++) {
    if (!metrics.has('memory') && !metrics.has('broadcast')) break;
    for (const spec of servers) {
      await onServer(spec, failures, `memory/broadcast round ${round + 1}`, async (server) => {
        const parts = [];
        if (metrics.has('memory')) {
          const memory = await memoryRun(server, spec, settings);
          results.add('memory.heap', spec.id, memory.heap);
          results.add('memory.rss', spec.id, memory.rss);
          results.add('memory.external', spec.id, memory.external);
          parts.push(`heap ${integer(memory.heap)} B/conn  rss ${integer(memory.rss)} B/conn`);
        }
        if (metrics.has('broadcast')) {
          for (const n of settings.fanout) {
            const fanout = await broadcastRun(server, spec, settings, n);
            results.add(`broadcast${n}.rate`, spec.id, fanout.rate);
            results.add(`broadcast${n}.cpu`, spec.id, fanout.cpu);
            results.add(`broadcast${n}.publish`, spec.id, fanout.publish);
            parts.push(`bcast${n} ${integer(fanout.rate)}/s ${fixed(2)(fanout.cpu)}µs`);
          }
        }
        log(`  [${round + 1}/${settings.memoryRepeats}] ${spec.id.padEnd(19)} ${parts.join('  ')}`);
      });
    }
  }

  const seconds = (performance.now() - started) / 1000;
  meta.duration = `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`;
  meta.loadEnd = os.loadavg()[0].toFixed(2);
  const text = report(results, servers, settings, meta, failures);
  process.stdout.write(`\n${text}\n`);
  const full = profile === 'full' && !args.only && metrics.size === 4;
  const ratios = ratiosOf((metric, id) => results.get(metric, id), servers);
  // Read before this run records its own ratios, which --compare must not compare with.
  const baseline = args.compare ? readBaseline(args.baseline) : undefined;
  if (full || args.record) {
    writeBaseline(args.baseline, ratios, meta);
    log(`ratios written to ${args.baseline}`);
  }
  if (args.compare) {
    if (!baseline) {
      log(`\nbench --compare: no baseline in ${args.baseline}; a full run (pnpm bench) or --record writes one`);
      process.exitCode = 2;
    } else {
      const names = new Map(SERVERS.map((server) => [server.id, server.name]));
      const verdict = compare(baseline, ratios, names, meta);
      process.stdout.write(`\n${verdict.text}\n`);
      if (verdict.regressed) {
        log('\nbench --compare: REGRESSION: a ratio grew by more than 10% (table above)');
        process.exitCode = 1;
      } else {
        log(`\nbench --compare: no ratio grew by more than 10% (${verdict.compared} compared)`);
      }
    }
  }
  const out = args.out ?? (full ? here('./RESULTS.md') : undefined);
  if (out) {
    // bench/sse.mjs writes its own section after this marker; a full run keeps it.
    let kept = '';
    try {
      const old = readFileSync(out, 'utf8');
      const at = old.indexOf('<!-- bench/sse.mjs -->');
      if (at !== -1) kept = `\n${old.slice(at)}`;
    } catch {}
    writeFileSync(out, `${text}\n${kept}`);
    log(`\nwritten to ${out}`);
  }
}

await main();
