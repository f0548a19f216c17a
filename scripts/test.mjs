#!/usr/bin/env node
// The test runner behind `pnpm test`. Three shapes:
//
//   pnpm test                      steps (build, typecheck, lint and format, import cycles, API
//                                  reference), the whole vitest suite on this Node (20), then the
//                                  consumer test.
//                                  The README's command; CI runs it first.
//   pnpm test -- --matrix          build, then the suites whose subject is the Node runtime
//                                  (MATRIX below) on Node 22, 24 and 26. CI runs it second.
//   pnpm test -- <files or dirs>   build, then vitest on those files only: no typecheck, lint or
//                                  API reference (`--checks` adds them) and no consumer test
//                                  (`--consumer` adds it). A few seconds for one file.
//
// `--node=node22,node26` picks the runtimes (the whole suite, or the files named, on each);
// `--no-consumer` drops the consumer test; every other argument goes to vitest.
//
// The end of the output: a table of steps (ok/FAILED) with their wall time, the slowest 15 test
// files of each runtime (from vitest's JSON report), then one line "N passed, N failed" that
// counts tests. Steps are not tests and are not counted as passed; each failed step counts as one
// failed, so that a red step keeps the last line (and CI) red. The exit status is 1 on any failure.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runtimeBinary } from './runtimes.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

// The suites whose subject is the Node runtime, run on 22, 24 and 26 as well as on 20 (which runs
// everything). Adapters translate between a framework and core and never touch Node's internals,
// so a runtime difference shows in core's use of Node, on any one adapter. What has differed, or
// can, between runtimes (git log, and where the code names a Node version):
// - core's load-time detection of Node's private APIs (the HTTP parser, the listener store, the
//   response's socket) and the takeover built on them: 9c9d66a (internals.test.ts failed on Node
//   24 and 26 only: rawListeners() returns a copy vitest found unequal to the stored array).
//   internals, close-path (events without listeners, ws's Receiver) and transport-ws (ws's
//   private members on a real socket).
// - the public route, taken when a detection fails on a future Node (SWITCHYARD_INTERNALS=0), and
//   the attacks run through it: public-route.
// - Node's HTTP parser in front of the takeover (llhttp changes with each major): what a mangled or
//   pipelined request gets, and when an upgrade is taken: rfc6455, adversarial, and conformance
//   (handshake, pipelining behind middleware, hooks) on one adapter. 8604910 found a peer whose
//   delivery depends on Node's parser timing.
// - V8's feedback for nextTick's tick object, which core keeps monomorphic (internals/tick-shape.ts):
//   four sites on Node 20, five on 22 and 24, none on 26: tick-shape.
// - APIs that arrived in a given Node: stream.duplexPair in 20.17 (inject); a global WebSocket
//   from 22 and CloseEvent from 23, which the client falls back from (packages/client/src/events.ts).
// The rest (fallback, recovery, redis, observability, admission, otel, browser, nginx, snippets,
// examples, CLI, peers) is protocol and framework code on public Node APIs: Node 20 covers it,
// and the consumer test runs the packed packages on 20.19 and 26. Entries are vitest filters (a
// path prefix), so a file added to one of these folders, *.serial.test.ts included, runs too.
// The shared suites run here on Express, Koa and Fastify: every adapter reaches Node through the
// same takeover in core, and these three reach it three ways (Express and Koa as middleware on
// Node's server, Fastify through its own routing); NestJS and Hono sit on Express's way and on
// @hono/node-server, framework code on public Node APIs, which Node 20 covers.
const MATRIX_ADAPTERS = ['express', 'koa', 'fastify'];
const MATRIX = [
  'packages/core/test/internals.test.ts',
  'packages/core/test/close-path.test.ts',
  'packages/core/test/transport-ws.test.ts',
  'packages/core/test/inject.test.ts',
  'packages/core/test/tick-shape.serial.test.ts',
  'packages/client/test/',
  ...['test/public-route/', 'test/rfc6455/', 'test/adversarial/'].flatMap((folder) =>
    MATRIX_ADAPTERS.map((adapter) => `${folder}${adapter}.`),
  ),
  'test/conformance/express.',
];
const MATRIX_RUNTIMES = ['node22', 'node24', 'node26'];

// `pnpm test -- --node=node22 file` hands the `--` on; it separates nothing here.
const args = process.argv.slice(2).filter((a) => a !== '--');
const OWN = new Set(['--matrix', '--checks', '--consumer', '--no-consumer']);
const only = args.find((a) => a.startsWith('--node='))?.slice('--node='.length);
const vitestArgs = args.filter((a) => !a.startsWith('--node=') && !OWN.has(a));
const matrix = args.includes('--matrix');
// A positional argument narrows the run to some files; a flag alone (say `-t name`) still narrows
// the tests, so any vitest argument counts as a narrowed run.
const narrowed = vitestArgs.length > 0;
const full = !narrowed && !matrix;
const checks = full || args.includes('--checks');
const consumer = args.includes('--consumer') || (full && !args.includes('--no-consumer'));

let passed = 0;
let failed = 0;
/** [label, result, seconds] for the summary. */
const rows = [];
/** The slowest files of each runtime: [runtime, [[file, seconds]...]]. */
const slowest = [];
const started = performance.now();

/** Runs one step, streaming its output; returns whether it exited 0, and how long it took. */
function run(label, command, commandArgs, env = process.env) {
  console.log(`\n=== ${label}: ${[command, ...commandArgs].join(' ')}`);
  const start = performance.now();
  const result = spawnSync(command, commandArgs, { cwd: root, stdio: 'inherit', env });
  return { ok: result.status === 0, seconds: (performance.now() - start) / 1000 };
}

/** A step that is not a test: ok or FAILED, and a failure counts as one failed. */
function step(label, command, commandArgs) {
  const { ok, seconds } = run(label, command, commandArgs);
  if (!ok) failed++;
  rows.push([label, ok ? 'ok' : 'FAILED', seconds]);
  return ok;
}

const tsc = join(root, 'node_modules/typescript/bin/tsc');
// The suites import the built packages, so the build runs first in every shape.
step('build', process.execPath, [tsc, '-b']);
if (checks) {
  step('typecheck', process.execPath, [tsc, '-p', 'tsconfig.test.json']);
  // Lint and format (Biome, biome.json): any lint error or unformatted file fails it.
  step('lint and format', process.execPath, [join(root, 'node_modules/@biomejs/biome/bin/biome'), 'ci', '.']);
  // Import cycles (dpdm), type-only imports included: every source file of every package is an
  // entry, so a file nothing imports is checked too; any cycle fails it (docs: packages/core/ARCHITECTURE.md).
  step('import cycles', process.execPath, [
    join(root, 'node_modules/dpdm/lib/bin/dpdm.js'),
    '--no-tree',
    '--no-warning',
    '--exit-code',
    'circular:1',
    'packages/*/src/**/*.ts',
  ]);
  // The API reference (TypeDoc, typedoc.json): fails on a broken {@link} or any other warning.
  step('api reference', process.execPath, [join(root, 'node_modules/typedoc/bin/typedoc')]);
}

const runtimes = only ? only.split(',') : matrix ? MATRIX_RUNTIMES : ['node20'];
const files = matrix && !narrowed ? MATRIX : [];

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
      rows.push([name, 'FAILED: runtime missing', 0]);
      continue;
    }
  }
  const version = spawnSync(binary, ['--version'], { encoding: 'utf8' }).stdout.trim();
  if (name === 'node20' && !version.startsWith('v20.')) console.log(`(note: the machine's Node is ${version}, not 20)`);
  const want = name.replace('node', 'v');
  if (!version.startsWith(`${want}.`) && name !== 'node20') {
    failed++;
    rows.push([name, `FAILED: wrong runtime ${version}`, 0]);
    continue;
  }
  // The two groups of vitest.config.ts one after the other: the parallel group with its workers,
  // then the serial group with one worker, each file in a process of its own. A narrowed run
  // starts vitest once, for both groups (the serial files then share one process, in turn).
  const reports = [];
  let seconds = 0;
  const groups = narrowed
    ? [[undefined, undefined]]
    : [
        ['parallel', undefined],
        ['serial', '1'],
      ];
  for (const [project, workers] of groups) {
    const output = join(outDir, `${name}-${project ?? 'all'}.json`);
    const env = workers ? { ...process.env, SWITCHYARD_TEST_WORKERS: workers } : process.env;
    const took = run(
      `vitest on ${version}${project ? `, ${project} group` : ''}`,
      binary,
      [
        join(root, 'node_modules/vitest/vitest.mjs'),
        'run',
        ...(project ? [`--project=${project}`] : []),
        // The matrix may name no file of one group; a narrowed run that matches no file at all
        // fails below.
        '--passWithNoTests',
        '--reporter=default',
        '--reporter=json',
        `--outputFile=${output}`,
        ...vitestArgs,
        ...files,
      ],
      env,
    );
    seconds += took.seconds;
    if (existsSync(output)) reports.push(JSON.parse(readFileSync(output, 'utf8')));
    else reports.push(undefined);
  }
  const label = `vitest ${name} ${version}`;
  if (reports.includes(undefined)) {
    failed++;
    rows.push([label, 'FAILED: no results (vitest crashed)', seconds]);
    continue;
  }
  const results = reports.flatMap((report) => report.testResults);
  const sum = (key) => reports.reduce((total, report) => total + report[key], 0);
  // A file that fails to load has no tests but counts as a failure.
  const brokenFiles = results.filter((file) => file.status === 'failed' && file.assertionResults.length === 0).length;
  const bad = sum('numFailedTests') + brokenFiles;
  if (results.length === 0) {
    failed++;
    rows.push([label, 'FAILED: no test file matched', seconds]);
    continue;
  }
  passed += sum('numPassedTests');
  failed += bad;
  rows.push([
    label,
    `${sum('numPassedTests')} passed, ${bad} failed, ${sum('numPendingTests') + sum('numTodoTests')} skipped, ${results.length} files`,
    seconds,
  ]);
  slowest.push([
    `${name} ${version}`,
    results
      .map((file) => [relative(root, file.name), (file.endTime - file.startTime) / 1000])
      .sort((a, b) => b[1] - a[1])
      .slice(0, 15),
  ]);
}

if (consumer) {
  // Its own runner prints its checks and ends with the same kind of summary line, which is added in.
  const output = join(outDir, 'consumer.json');
  const { seconds } = run('consumer test', process.execPath, [join(root, 'test/consumer/run.mjs'), `--json=${output}`]);
  if (existsSync(output)) {
    const report = JSON.parse(readFileSync(output, 'utf8'));
    passed += report.passed;
    failed += report.failed;
    rows.push(['consumer', `${report.passed} passed, ${report.failed} failed`, seconds]);
  } else {
    failed++;
    rows.push(['consumer', 'FAILED: no results (the runner crashed)', seconds]);
  }
}

const secs = (s) => `${s.toFixed(1).padStart(7)} s`;
for (const [runtime, files] of slowest) {
  console.log(`\n=== slowest files on ${runtime} (wall time of each file; files run in parallel)`);
  for (const [file, seconds] of files) console.log(`${secs(seconds)}  ${file}`);
}
console.log('\n=== summary (wall time of each step)');
for (const [label, result, seconds] of rows) console.log(`${secs(seconds)}  ${label.padEnd(28)} ${result}`);
console.log(`${secs((performance.now() - started) / 1000)}  total`);
const failedSteps = rows.filter(([, result]) => result.startsWith('FAILED')).length;
if (failedSteps > 0) console.log(`(${failedSteps} failed step${failedSteps > 1 ? 's' : ''} counted as failed below)`);
console.log(`${passed} passed, ${failed} failed`);
process.exitCode = failed === 0 ? 0 : 1;
