#!/usr/bin/env node
// `pnpm release [--dry-run] [--out=DIR]`: the one way packages leave the workspace.
//   1. builds, and packs every published package with `pnpm pack`, which rewrites `workspace:*`
//      into the version being released (npm would ship it as is; see scripts/prepack.mjs);
//   2. checks each tarball: no `workspace:` left, the files a user needs and nothing stray, and
//      every package its type declarations import listed in its dependencies;
//   3. without --dry-run, publishes exactly those tarballs with npm and tags the release.
// Versions and changelogs come first, from `pnpm changeset version` (see .changeset/README.md).
// The consumer test (test/consumer) packs through the same `packAll`, so what it installs is
// what would be published.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/**
 * The published packages, dependencies first: every package of the workspace (the folders that
 * pnpm-workspace.yaml names) that is not private. This is the one list; the release, the
 * Changesets group (test/release.test.ts checks it), the consumer test and the docs' tree follow it,
 * so a new package cannot be left out of any of them.
 * @returns `{ name, dir }` with `dir` relative to `rootDir`, e.g. `packages/core`.
 */
export function releasedPackages(rootDir = root) {
  const found = [];
  for (const pattern of workspacePatterns(rootDir)) {
    const dirs = pattern.endsWith('/*')
      ? readdirSync(join(rootDir, pattern.slice(0, -2)), { withFileTypes: true })
          .filter((entry) => entry.isDirectory())
          .map((entry) => `${pattern.slice(0, -2)}/${entry.name}`)
      : [pattern];
    for (const dir of dirs.sort()) {
      const file = join(rootDir, dir, 'package.json');
      if (!existsSync(file)) continue;
      const manifest = JSON.parse(readFileSync(file, 'utf8'));
      if (!manifest.private) found.push({ name: manifest.name, dir, manifest });
    }
  }
  // Dependencies first, so that each one's prepack builds against fresh builds of the others.
  const ordered = [];
  const visit = (pkg, path) => {
    if (ordered.includes(pkg)) return;
    if (path.includes(pkg))
      throw new Error(`workspace dependency cycle: ${[...path, pkg].map((p) => p.name).join(' -> ')}`);
    const deps = { ...pkg.manifest.dependencies, ...pkg.manifest.peerDependencies };
    for (const dep of found.filter((other) => other.name in deps)) visit(dep, [...path, pkg]);
    ordered.push(pkg);
  };
  for (const pkg of found) visit(pkg, []);
  return ordered.map(({ name, dir }) => ({ name, dir }));
}

/** The `packages:` globs of pnpm-workspace.yaml (a folder, or a folder and `/*`). */
function workspacePatterns(rootDir) {
  const patterns = [];
  let inPackages = false;
  for (const line of readFileSync(join(rootDir, 'pnpm-workspace.yaml'), 'utf8').split('\n')) {
    if (/^\S/.test(line)) inPackages = /^packages:\s*$/.test(line);
    const item = inPackages && /^\s+-\s*['"]?([^'"#\s]+)['"]?/.exec(line);
    if (!item) continue;
    if (item[1].startsWith('!')) continue;
    if (!/^[^*?{}[\]]+(\/\*)?$/.test(item[1]))
      throw new Error(`pnpm-workspace.yaml: ${item[1]} is a glob this script does not read; name a folder or folder/*`);
    patterns.push(item[1].replace(/\/$/, ''));
  }
  return patterns;
}

/** The published packages, dependencies first (see {@link releasedPackages}). */
export const PACKAGES = releasedPackages();

/** How to run pnpm: the one running this script, else the README's `npx -y pnpm@10`. */
function pnpmCommand() {
  const execPath = process.env.npm_execpath ?? '';
  if (/pnpm/.test(execPath) && existsSync(execPath)) return [process.execPath, [execPath]];
  return ['npx', ['-y', 'pnpm@10']];
}

/**
 * The environment for npm: without the npm_config_* settings pnpm exports to its scripts, which
 * npm does not know (it warns about each) or would obey (a pnpm-only registry or linker).
 */
export function npmEnv(extra = {}) {
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([key]) => !/^npm_(config|package|lifecycle)_/i.test(key)),
  );
  return { ...env, ...extra };
}

function run(command, args, options = {}) {
  const result = spawnSync(command, args, { encoding: 'utf8', ...options });
  if (result.status !== 0) {
    throw new Error(
      `${[command, ...args].join(' ')} failed (${result.status ?? result.signal}):\n${result.stdout ?? ''}${result.stderr ?? ''}`,
    );
  }
  return result.stdout;
}

/** Builds and packs every package into `outDir` with pnpm; returns { name: tarball path }. */
export function packAll(outDir) {
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  const [pnpm, pnpmArgs] = pnpmCommand();
  // One pnpm for all of them: it packs in dependency order (each prepack builds its package
  // against the fresh build of the ones before), two at a time where they are independent.
  const filters = PACKAGES.flatMap(({ dir }) => ['--filter', `./${dir}`]);
  run(pnpm, [...pnpmArgs, '--recursive', ...filters, 'pack', '--pack-destination', outDir], { cwd: root });
  const tarballs = {};
  for (const file of readdirSync(outDir).filter((f) => f.endsWith('.tgz'))) {
    tarballs[readTarball(join(outDir, file)).manifest.name] = join(outDir, file);
  }
  const names = PACKAGES.map(({ name }) => name);
  const missing = names.filter((name) => !tarballs[name]);
  if (missing.length > 0) throw new Error(`pnpm pack made no tarball for ${missing.join(', ')}`);
  return Object.fromEntries(names.map((name) => [name, tarballs[name]]));
}

/**
 * A tarball unpacked once into a temporary folder (one `tar` per tarball, not one per file read:
 * the checks read every .d.ts), keyed by path, size and mtime so a repacked tarball is read anew.
 */
const unpacked = new Map();
function unpack(tarball) {
  const { size, mtimeMs } = statSync(tarball);
  const key = `${tarball}\0${size}\0${mtimeMs}`;
  let dir = unpacked.get(key);
  if (dir === undefined) {
    dir = mkdtempSync(join(tmpdir(), 'switchyard-tarball-'));
    run('tar', ['-xzf', tarball, '-C', dir]);
    unpacked.set(key, dir);
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  }
  return join(dir, 'package');
}

/** The file list and manifest of a tarball. */
export function readTarball(tarball) {
  const dir = unpack(tarball);
  const files = readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath ?? entry.path, entry.name).slice(dir.length + 1))
    .sort();
  const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
  return { files, manifest };
}

/** The text of one file of a tarball (`file` as `readTarball` lists it, e.g. `dist/index.d.ts`). */
export function readTarballFile(tarball, file) {
  return readFileSync(join(unpack(tarball), file), 'utf8');
}

/** Problems with one tarball, as sentences; empty when it is fit to publish. */
export function checkTarball(tarball) {
  const { files, manifest } = readTarball(tarball);
  const problems = [];
  const raw = JSON.stringify(manifest);
  if (raw.includes('workspace:'))
    problems.push(`its package.json still says workspace: (${raw.match(/"[^"]+":"workspace:[^"]*"/g)?.join(', ')})`);
  const needed = ['package.json', 'README.md', 'LICENSE', 'CHANGELOG.md', 'dist/index.js', 'dist/index.d.ts'];
  if (manifest.bin) needed.push(...Object.values(manifest.bin).map((file) => file.replace(/^\.\//, '')));
  for (const file of needed) if (!files.includes(file)) problems.push(`${file} is missing`);
  const allowed = /^(package\.json|README\.md|LICENSE|CHANGELOG\.md|dist\/.+\.(js|d\.ts)|bin\/[\w-]+\.js)$/;
  for (const file of files) if (!allowed.test(file)) problems.push(`${file} should not ship`);
  for (const field of ['repository', 'homepage', 'bugs', 'keywords', 'sideEffects', 'license', 'engines']) {
    if (manifest[field] === undefined) problems.push(`package.json has no ${field}`);
  }
  if (manifest.repository?.directory === undefined) problems.push('repository has no directory');
  if (manifest.publishConfig?.access !== 'public') problems.push('publishConfig.access is not public');
  problems.push(...checkDeclarationImports(tarball, files, manifest));
  return problems;
}

/**
 * Every bare import in the published .d.ts files must be installed for the user: listed in
 * dependencies or peerDependencies, and when that package has no types of its own, its
 * @types package in dependencies (a devDependency is not installed for users, so
 * `skipLibCheck: false` would fail with TS7016).
 */
function checkDeclarationImports(tarball, files, manifest) {
  const problems = [];
  const declared = { ...manifest.dependencies, ...manifest.peerDependencies };
  const imported = new Set();
  for (const file of files.filter((f) => f.endsWith('.d.ts'))) {
    // Comments hold examples (`import { connect } from '@switchyard/client'`): drop them first.
    const text = readTarballFile(tarball, file)
      .replace(/\/\*[\s\S]*?\*\//g, '')
      .replace(/^\s*\/\/.*$/gm, '');
    for (const match of text.matchAll(
      /^\s*(?:import|export)\b[^;'"]*?from\s*['"]([^'".][^'"]*)['"]|\bimport\(\s*['"]([^'".][^'"]*)['"]\s*\)/gm,
    )) {
      imported.add(match[1] ?? match[2]);
    }
  }
  const dir = PACKAGES.find(({ name }) => name === manifest.name)?.dir;
  if (dir === undefined) return [`${manifest.name} is not a package of the workspace`];
  const requireFromPackage = createRequire(join(root, dir, 'package.json'));
  for (const specifier of imported) {
    if (specifier.startsWith('node:')) continue;
    const name = specifier.startsWith('@') ? specifier.split('/').slice(0, 2).join('/') : specifier.split('/')[0];
    const typesPackage = `@types/${name.replace(/^@/, '').replace('/', '__')}`;
    if (!(name in declared)) {
      // A type-only import of a package the runtime code reaches through a dependency (fastify's
      // types name ws's WebSocket, which core brings) needs only the declarations.
      if (!manifest.dependencies?.[typesPackage])
        problems.push(`its types import ${specifier}, which is not in dependencies or peerDependencies`);
      continue;
    }
    let own;
    let ownManifest;
    try {
      ownManifest = requireFromPackage.resolve(`${name}/package.json`);
      own = JSON.parse(readFileSync(ownManifest, 'utf8'));
    } catch {
      continue;
    }
    if (
      !own.types &&
      !own.typings &&
      !hasTypesInExports(own.exports) &&
      !hasDeclarationsBesideMain(dirname(ownManifest), own) &&
      !manifest.dependencies?.[typesPackage]
    ) {
      problems.push(
        `its types import ${name}, which has no types of its own, and ${typesPackage} is not in dependencies`,
      );
    }
  }
  return problems;
}

/** A `.d.ts` next to the main module, which TypeScript finds by itself (NestJS ships its types so). */
function hasDeclarationsBesideMain(dir, own) {
  const main = (own.main ?? 'index.js').replace(/^\.\//, '');
  return existsSync(join(dir, main.replace(/\.[cm]?js$/, '').concat('.d.ts')));
}

function hasTypesInExports(exports) {
  return JSON.stringify(exports ?? null).includes('"types"');
}

function main() {
  const args = process.argv.slice(2);
  const dryRun = args.includes('--dry-run');
  const outDir = resolve(args.find((a) => a.startsWith('--out='))?.slice('--out='.length) ?? join(root, '.release'));
  const tarballs = packAll(outDir);
  let bad = 0;
  for (const [name, tarball] of Object.entries(tarballs)) {
    const problems = checkTarball(tarball);
    console.log(`${problems.length === 0 ? 'ok  ' : 'BAD '} ${name}: ${tarball}`);
    for (const problem of problems) console.log(`       ${problem}`);
    if (problems.length > 0) bad++;
  }
  if (bad > 0) {
    console.error(`${bad} package(s) are not fit to publish; nothing was published`);
    process.exit(1);
  }
  for (const [name, tarball] of Object.entries(tarballs)) {
    const { version } = readTarball(tarball).manifest;
    const published = spawnSync('npm', ['view', `${name}@${version}`, 'version'], { encoding: 'utf8', env: npmEnv() });
    if (published.status === 0 && published.stdout.trim() === version) {
      console.log(`${name}@${version} is already on the registry; skipped`);
      continue;
    }
    // npm publishes the tarball as it is: no scripts run, nothing is repacked.
    const publish = spawnSync('npm', ['publish', tarball, '--access', 'public', ...(dryRun ? ['--dry-run'] : [])], {
      stdio: 'inherit',
      env: npmEnv(),
    });
    if (publish.status !== 0) process.exit(publish.status ?? 1);
  }
  if (dryRun) {
    console.log(`dry run: the tarballs are in ${outDir}; nothing was published`);
    return;
  }
  const [pnpm, pnpmArgs] = pnpmCommand();
  spawnSync(pnpm, [...pnpmArgs, 'changeset', 'tag'], { cwd: root, stdio: 'inherit' });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) main();
