// Every package's `prepack`: it runs in the package's directory before any pack or publish.
// 1. A manifest with `workspace:` dependencies must be packed by pnpm, which rewrites them into
//    versions in the tarball. npm and yarn 1 ship them as they are, and installing such a tarball
//    fails with EUNSUPPORTEDPROTOCOL, so they are stopped here. `pnpm release` is the way to pack.
// 2. It builds the package afresh (and what it references, when out of date), so a stale or
//    missing dist never ships: dist and the build info go first, because `tsc -b` trusts its
//    build info and would neither rebuild a deleted dist nor remove a deleted module's output.
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const manifest = JSON.parse(readFileSync('package.json', 'utf8'));
const sections = ['dependencies', 'peerDependencies', 'optionalDependencies'];
const workspaceSpecs = sections.flatMap((section) =>
  Object.entries(manifest[section] ?? {}).filter(([, spec]) => spec.startsWith('workspace:')).map(([name, spec]) => `${name}@${spec}`));

// Package managers say who they are in npm_config_user_agent: "pnpm/10.3.0 npm/? node/v20…".
const agent = process.env.npm_config_user_agent ?? '';
if (workspaceSpecs.length > 0 && !agent.startsWith('pnpm/')) {
  console.error(`${manifest.name}: refusing to pack with ${agent.split(' ')[0] || 'this tool'}: it would ship ${workspaceSpecs.join(', ')}`
    + ' unchanged, which no one can install. Pack and publish with "pnpm release" (or pnpm pack / pnpm publish), which rewrite workspace: to versions.');
  process.exit(1);
}

rmSync('dist', { recursive: true, force: true });
rmSync('tsconfig.tsbuildinfo', { force: true });
const build = spawnSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-b'], { stdio: 'inherit' });
if (build.status !== 0) {
  console.error(`${manifest.name}: the build failed, so nothing is packed`);
  process.exit(build.status ?? 1);
}
