#!/usr/bin/env node
/**
 * The echo's garbage collector, server by server: when V8 grew the young generation to its
 * largest size, what the heap looked like after the warm-up, and what the collector did during
 * one measured window, next to the server's CPU per message (bench/README.md, "The 16 KiB echo
 * rows").
 *
 *   node bench/gc.mjs [SERVER...] [--size=16384] [--warmup=8000] [--seconds=4] [--repeats=1]
 *                     [--max-new-space=32]
 *
 * SERVER is any program in bench/servers/ without .mjs (default: ws and the Koa, Hono and
 * Express pairs). Rounds are interleaved: each round starts every server once, in order. In
 * each, the echo's 100 connections run for the warm-up while the young generation's size is
 * sampled every 100 ms ("young gen at max": when new_space reached --max-new-space MB, two
 * 16 MB semi-spaces by default; – if it never did). Then the heap is read as the GC heuristics
 * see it, without collecting first (old space, new space, external memory), and collections are
 * counted by kind over the window (PerformanceObserver 'gc' entries: scavenges, mark-compacts),
 * with µs of server CPU per message (process.cpuUsage).
 *
 * BENCH_SERVER_FLAGS adds Node flags to every server, as in run.mjs: for example
 * `--min-semi-space-size=16 --max-semi-space-size=16` starts every server with the young
 * generation at its largest, so that only what happens after that differs.
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { SERVERS, snapshot, startServer, withLoad } from './drive.mjs';

const args = process.argv.slice(2);
const flags = Object.fromEntries(args.filter((arg) => arg.startsWith('--')).map((arg) => arg.slice(2).split('=')));
const ids = args.filter((arg) => !arg.startsWith('--'));
const DEFAULT = [
  'ws',
  'switchyard-koa',
  'koa-easy-ws',
  'switchyard-hono',
  'hono-node-ws',
  'switchyard-express',
  'express-ws',
];
// Any program in bench/servers/ may be named, not only the rows of run.mjs's table.
const servers = (ids.length > 0 ? ids : DEFAULT).map((id) => SERVERS.find((server) => server.id === id) ?? { id });
const size = Number(flags.size ?? 16_384);
const warmup = Number(flags.warmup ?? 8000);
const seconds = Number(flags.seconds ?? 4);
const repeats = Number(flags.repeats ?? 1);
const MB = 1024 * 1024;
const maxNewSpace = Number(flags['max-new-space'] ?? 32) * MB;

async function measure(spec) {
  const server = await startServer(spec);
  try {
    return await withLoad(async (load) => {
      const started = performance.now();
      await load.rpc({ cmd: 'echo', port: server.port, path: '/echo', connections: 100, size, tcp: !!spec.tcp });
      let grownAt;
      const sampler = setInterval(() => {
        server.rpc({ cmd: 'heap' }).then(
          ({ spaces }) => {
            if (grownAt === undefined && spaces.new_space.size >= maxNewSpace) grownAt = performance.now() - started;
          },
          () => {},
        );
      }, 100);
      try {
        await sleep(warmup);
        const heap = await server.rpc({ cmd: 'heap' });
        await server.rpc({ cmd: 'gcStart' });
        const before = await snapshot(server, load);
        await sleep(seconds * 1000);
        const after = await snapshot(server, load);
        const gc = await server.rpc({ cmd: 'gcStop' });
        const ops = after.done - before.done;
        const secs = (after.at - before.at) / 1000;
        return {
          id: spec.id,
          cpuPerOp: (after.cpu - before.cpu) / ops,
          oldSpace: heap.spaces.old_space.size / MB,
          oldUsed: heap.spaces.old_space.used / MB,
          newSpace: heap.spaces.new_space.size / MB,
          external: heap.external / MB,
          scavenges: gc.minor / secs,
          markCompacts: gc.major / secs,
          gcMs: gc.ms / secs,
          grownAt,
        };
      } finally {
        clearInterval(sampler);
      }
    });
  } finally {
    await server.stop();
  }
}

const rows = [];
for (let round = 0; round < repeats; round++) {
  for (const spec of servers) {
    const row = await measure(spec);
    rows.push(row);
    process.stderr.write(`  [${round + 1}/${repeats}] ${spec.id}: ${row.cpuPerOp.toFixed(1)} µs/msg\n`);
  }
}

const fixed = (value, digits = 1) => value.toFixed(digits);
process.stdout.write(
  `\n${size} B echo, 100 connections, ${seconds} s windows after ${warmup / 1000} s\n\n` +
    '| server | µs/msg | young gen at max after | old space MB (used) | new space MB | external MB | scavenges/s | mark-compacts/s | GC ms/s |\n' +
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|\n',
);
for (const row of rows)
  process.stdout.write(
    `| ${row.id} | ${fixed(row.cpuPerOp)} | ${row.grownAt === undefined ? '–' : `${fixed(row.grownAt / 1000)} s`} | ${fixed(row.oldSpace)} (${fixed(row.oldUsed)}) | ${fixed(row.newSpace)} | ${fixed(row.external)} | ${fixed(row.scavenges, 0)} | ${fixed(row.markCompacts)} | ${fixed(row.gcMs, 0)} |\n`,
  );
