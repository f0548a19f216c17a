#!/usr/bin/env node
// What bufferutil saves (core depended on it optionally until this measurement; see
// docs/performance.md): ws masks every frame a client sends and
// unmasks it on the server, with bufferutil's native code when it is installed, with Node's own
// `http.websocketMask` where Node has it (ws prefers that), else in JavaScript. This prints the
// CPU per mask + unmask of one payload, by size, on each runtime, with bufferutil and without
// (WS_NO_BUFFER_UTIL=1, which ws reads at load), next to the server's whole CPU per echo from
// bench/RESULTS.md for scale.
//
//   node bench/bufferutil.mjs [--runtimes=node20.19,node26]
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runtimeBinary } from '../scripts/runtimes.mjs';

const SIZES = [64, 1024, 16 * 1024, 64 * 1024, 1024 * 1024];

if (process.argv[2] === '--child') {
  // bench's own ws, which finds the bench's bufferutil (a dependency of bench/ only); ws's
  // module by path, since its `exports` map hides lib/.
  const requireHere = createRequire(import.meta.url);
  const wsDir = dirname(requireHere.resolve('ws'));
  const requireFromWs = createRequire(join(wsDir, 'index.js'));
  const bufferUtil = requireFromWs('./lib/buffer-util.js');
  const http = requireHere('node:http');
  let using = 'JavaScript';
  if (http.websocketMask) using = "Node's http.websocketMask";
  else if (!process.env.WS_NO_BUFFER_UTIL) {
    try {
      requireFromWs.resolve('bufferutil');
      using = 'bufferutil';
    } catch {}
  }
  const mask = Buffer.from([0x12, 0x34, 0x56, 0x78]);
  const results = {};
  for (const size of SIZES) {
    const source = Buffer.alloc(size, 7);
    const output = Buffer.alloc(size);
    // About 64 MiB through mask and unmask per size, at least 2,000 rounds: long enough to be
    // steady, short enough for a shared machine.
    const rounds = Math.max(2000, Math.ceil((64 * 1024 * 1024) / size));
    for (let i = 0; i < rounds / 4; i++) {
      bufferUtil.mask(source, mask, output, 0, size);
      bufferUtil.unmask(output, mask);
    }
    const start = process.cpuUsage();
    for (let i = 0; i < rounds; i++) {
      bufferUtil.mask(source, mask, output, 0, size);
      bufferUtil.unmask(output, mask);
    }
    const used = process.cpuUsage(start);
    results[size] = ((used.user + used.system) * 1000) / rounds; // ns per mask + unmask
  }
  console.log(JSON.stringify({ using, results }));
  process.exit(0);
}

const runtimes = (process.argv.find((a) => a.startsWith('--runtimes='))?.slice(11) ?? 'node20.19,node26').split(',');
const label = (size) =>
  size >= 1024 * 1024 ? `${size / 1024 / 1024} MiB` : size >= 1024 ? `${size / 1024} KiB` : `${size} B`;
const format = (ns) =>
  ns >= 10_000 ? `${(ns / 1000).toFixed(0)} µs` : ns >= 1000 ? `${(ns / 1000).toFixed(2)} µs` : `${ns.toFixed(0)} ns`;
console.log(`| runtime | ws masks with | ${SIZES.map(label).join(' | ')} |`);
console.log(`|---|---|${SIZES.map(() => '---:').join('|')}|`);
for (const name of runtimes) {
  const node = runtimeBinary(name);
  for (const env of [{}, { WS_NO_BUFFER_UTIL: '1' }]) {
    const child = spawnSync(node, [fileURLToPath(import.meta.url), '--child'], {
      encoding: 'utf8',
      env: { ...process.env, ...env },
    });
    if (child.status !== 0) throw new Error(child.stderr);
    const { using, results } = JSON.parse(child.stdout);
    const version = spawnSync(node, ['--version'], { encoding: 'utf8' }).stdout.trim();
    console.log(`| Node ${version} | ${using} | ${SIZES.map((size) => format(results[size])).join(' | ')} |`);
  }
}
