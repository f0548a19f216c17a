#!/usr/bin/env node
/**
 * Instructions per operation of a server process, counted by valgrind (callgrind): a figure that,
 * unlike CPU time, does not move with the machine's load, so that a change of a few percent on
 * the handshake path can be told from noise on a shared machine.
 *
 *   node bench/instructions.mjs SERVER... [--metric=handshake|echo64] [--ops=1000]
 *        [--warmup=3000] [--rewarm=10000] [--concurrency=10] [--repeats=1] [--keep=DIR]
 *
 * Each server (a file name in bench/servers/ without .mjs) starts under
 * `valgrind --tool=callgrind --instr-atstart=no`; the warm-up runs uninstrumented (V8 compiles the
 * path meanwhile), then instrumentation goes on, the counters are zeroed, exactly --ops
 * operations run (the load generator's `total`), and the counters are dumped. The figure
 * includes everything the process executes meanwhile: V8's compiler threads, GC, the kernel
 * interface in libuv, but not the kernel itself. JIT code has no symbols under valgrind, so
 * this gives totals only; `node bench/profile.mjs cpu` shows where the time goes. `--keep=DIR`
 * keeps each dump as DIR/SERVER.ROUND.callgrind for `callgrind_annotate`; with
 * `--node-flags="--single-threaded --perf-basic-prof"` the server also writes
 * /tmp/perf-PID.map, which names the JIT addresses in the dump (the first column is the start,
 * the second the length).
 *
 * Needs valgrind (apt-get install valgrind). Under callgrind a server runs ~50× slower: a
 * handshake round of 1000 takes about 20 s per server.
 */
import { execFileSync, fork } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { SERVERS, startLoad } from './drive.mjs';

const here = (path) => fileURLToPath(new URL(path, import.meta.url));

const args = process.argv.slice(2);
const ids = args.filter((arg) => !arg.startsWith('--'));
const flags = Object.fromEntries(args.filter((arg) => arg.startsWith('--')).map((arg) => arg.slice(2).split('=')));
const metric = flags.metric ?? 'handshake';
// The echo's message size: 64 B (framing and dispatch dominate) or 16 KiB (copies and GC do).
const echoSizes = { echo64: 64, echo16k: 16_384 };
// Known flaw: 16 KiB echo runs on switchyard servers can hang under callgrind, their
// connections gone and the load generator waiting for ever, while raw ws and express-ws finish.
// The cause is switchyard's heartbeat (a ping every 30 s, 10 s to answer) on connections whose
// client, the load generator, counts reply bytes and never answers a ping: a slow run outlives
// it. Short runs hang less often (2,000 after 10,000 finished 4 times of 4 at 21:27 on
// 2026-12-07, and hung 5 times of 5 at 22:11 on a busier machine); with `heartbeat: false` on
// the server's /echo endpoint, 5,000 after 20,000 finished every time. So echo servers now run
// with BENCH_HEARTBEAT=off (startUnderCallgrind), which switchyard-express.mjs and
// switchyard-fastify.mjs honour; the 64 B echo hung the same way, and a sweep counted inside the
// run had switchyard-fastify at 1.63× ws.
const ops = Number(flags.ops ?? (metric === 'handshake' ? 1000 : metric === 'echo16k' ? 2000 : 20_000));
const warmup = Number(flags.warmup ?? (metric === 'handshake' ? 3000 : metric === 'echo16k' ? 10_000 : 50_000));
const concurrency = Number(flags.concurrency ?? 4);
// Echo: messages on the counted connections before the counters are zeroed (see echoCounted).
const rewarm = Number(flags.rewarm ?? 10_000);
const repeats = Number(flags.repeats ?? 1);
// V8 flags for the server. --single-threaded keeps compilation and GC on the main thread, so
// that when optimized code lands and when marking runs follow the work done, not the
// scheduler; without it, counts of the same code spread by ±10% between runs.
const nodeFlags = (flags['node-flags'] ?? '--single-threaded').split(' ').filter(Boolean);
if (ids.length === 0 || !['handshake', 'echo64', 'echo16k'].includes(metric)) {
  process.stderr.write(
    'usage: node bench/instructions.mjs SERVER... [--metric=handshake|echo64|echo16k] [--ops=N] [--warmup=N] [--concurrency=N] [--repeats=N]\n',
  );
  process.exit(2);
}
for (const id of ids) if (!SERVERS.some((server) => server.id === id)) throw new Error(`unknown server ${id}`);

/** Starts a server program under callgrind with instrumentation off; resolves with pid and port. */
function startUnderCallgrind(id, dir) {
  const child = fork(here(`./servers/${id}.mjs`), [], {
    execPath: 'valgrind',
    execArgv: [
      '--tool=callgrind',
      '--instr-atstart=no',
      `--callgrind-out-file=${join(dir, 'callgrind.out')}`,
      '--log-file=/dev/null',
      process.execPath,
      '--expose-gc',
      ...nodeFlags,
    ],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    // Switchyard's heartbeat sweeps every 30 s and pings what is idle: under callgrind an echo
    // count lasts longer than that, so a sweep and its pings (which the load generator counts as
    // echo bytes) would be counted in it; echo servers run without it (the servers that read
    // BENCH_HEARTBEAT). Per message it costs nothing either way.
    env: metric === 'handshake' ? process.env : { ...process.env, BENCH_HEARTBEAT: 'off' },
  });
  return new Promise((resolve, reject) => {
    child.once('message', (message) => resolve({ child, port: message.port }));
    child.once('exit', (code) => reject(new Error(`${id} exited (${code}) before it listened`)));
  });
}

const control = (...argv) =>
  execFileSync('callgrind_control', argv, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });

/** Runs exactly `total` operations with a fresh load generator; resolves with done and failed. */
async function runOps(port, total) {
  const load = await startLoad();
  try {
    if (metric === 'handshake') {
      // A server under callgrind is slow: no handshake may time out and leave the count.
      await load.rpc({ cmd: 'handshakes', port, path: '/echo', concurrency, mode: 'ws', total, timeout: 600_000 });
    } else {
      await load.rpc({
        cmd: 'echo',
        port,
        path: '/echo',
        connections: concurrency,
        size: echoSizes[metric],
        tcp: false,
        total,
      });
    }
    return await load.rpc({ cmd: 'waitDone' }, 600_000);
  } finally {
    await load.rpc({ cmd: 'stop' }).catch(() => {});
    await load.stop();
  }
}

/** The last dump in `dir`, or undefined. */
function lastDump(dir) {
  const dumps = readdirSync(dir)
    .filter((name) => /^callgrind\.out\.\d+$/.test(name))
    .sort((a, b) => Number(a.split('.').pop()) - Number(b.split('.').pop()));
  return dumps.length > 0 ? join(dir, dumps.at(-1)) : undefined;
}

function keepDump(dir, to) {
  mkdirSync(flags.keep, { recursive: true });
  copyFileSync(lastDump(dir), to);
}

/** The instructions in the last dump: callgrind writes `summary:` (or `totals:`) lines. */
function dumpedInstructions(dir) {
  const text = readFileSync(lastDump(dir), 'utf8');
  const line = text.match(/^summary:\s*(\d+)/m) ?? text.match(/^totals:\s*(\d+)/m);
  if (!line) throw new Error('no summary in the callgrind dump');
  return Number(line[1]);
}

async function measure(id, round) {
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-callgrind-'));
  const { child, port } = await startUnderCallgrind(id, dir);
  const pid = String(child.pid);
  try {
    const warm = await runOps(port, warmup);
    if (warm.failed > 0) process.stderr.write(`${id}: ${warm.failed} of the warm-up failed\n`);
    await sleep(500);
    let counted;
    if (metric === 'handshake') {
      control('-i', 'on', pid);
      await sleep(1000);
      control('-z', pid);
      counted = await runOps(port, ops);
      control('-d', pid);
    } else {
      counted = await echoCounted(port, pid);
    }
    if (counted.failed > 0) throw new Error(`${counted.failed} of ${ops} failed`);
    // The dump is written asynchronously to the command; wait for it.
    for (let i = 0; i < 100; i++) {
      if (readdirSync(dir).some((name) => /^callgrind\.out\.\d+$/.test(name))) break;
      await sleep(100);
    }
    await sleep(300);
    if (flags.keep) keepDump(dir, join(flags.keep, `${id}.${round + 1}.callgrind`));
    return dumpedInstructions(dir) / ops;
  } finally {
    child.kill();
    await new Promise((resolve) => (child.exitCode === null ? child.once('exit', resolve) : resolve()));
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Echo: open the connections first, zero the counters, then count exactly `ops` messages. */
async function echoCounted(port, pid) {
  const load = await startLoad();
  try {
    // One message per connection opens the path; the counters are zeroed after those.
    await load.rpc({
      cmd: 'echo',
      port,
      path: '/echo',
      connections: concurrency,
      size: echoSizes[metric],
      tcp: false,
      total: concurrency,
    });
    await load.rpc({ cmd: 'waitDone' }, 600_000);
    // New connections send V8 back to compiling: opening them deopts (wrong map) the stream
    // functions the warm-up optimized, and those, with everything inlined into them, are
    // optimized again over the next few thousand messages. Counted, that re-warming made raw
    // ws's 64 B echo 35.3k instructions instead of 22.0k (TurboFan itself 9.1k) and most of
    // switchyard's gap (--trace-opt --trace-deopt: about 30 functions compiled after the counters
    // were zeroed; none once 10,000 more messages ran).
    // Uninstrumented, so that the counted run ends before switchyard's heartbeat (see above).
    await load.rpc({ cmd: 'more', total: rewarm });
    await load.rpc({ cmd: 'waitDone' }, 600_000);
    control('-i', 'on', pid);
    await sleep(1000);
    control('-z', pid);
    await load.rpc({ cmd: 'more', total: ops });
    const counted = await load.rpc({ cmd: 'waitDone' }, 600_000);
    control('-d', pid);
    return counted;
  } finally {
    await load.rpc({ cmd: 'stop' }).catch(() => {});
    await load.stop();
  }
}

const results = new Map(ids.map((id) => [id, []]));
for (let round = 0; round < repeats; round++) {
  for (const id of ids) {
    const perOp = await measure(id, round);
    results.get(id).push(perOp);
    process.stderr.write(
      `  [${round + 1}/${repeats}] ${id}: ${Math.round(perOp).toLocaleString('en-US')} instructions/${metric}\n`,
    );
  }
}
const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
};
const base = results.has('ws') ? median(results.get('ws')) : undefined;
process.stdout.write(`\n| server | instructions / ${metric} | × ws | samples |\n|---|---:|---:|---|\n`);
for (const [id, values] of results) {
  const value = median(values);
  process.stdout.write(
    `| ${id} | ${Math.round(value).toLocaleString('en-US')} | ${base ? `${(value / base).toFixed(2)}×` : '–'} | ${values.map((v) => Math.round(v / 1000)).join(', ')} k |\n`,
  );
}
