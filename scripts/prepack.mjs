// Every package's `prepack`: it runs in the package's directory before any pack or publish.
// 1. A manifest with `workspace:` dependencies must be packed by pnpm, which rewrites them into
//    versions in the tarball. npm and yarn 1 ship them as they are, and installing such a tarball
//    fails with EUNSUPPORTEDPROTOCOL, so they are stopped here. `pnpm release` is the way to pack.
// 2. It builds the package (and what it references), so a stale or missing dist never ships.
//    `tsc -b` rebuilds what changed, but it trusts its build info: it would not rebuild a
//    deleted dist, nor remove the output of a deleted module. So the build info goes when any
//    output is missing, and outputs without a source go after the build.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const manifest = JSON.parse(readFileSync('package.json', 'utf8'));
const sections = ['dependencies', 'peerDependencies', 'optionalDependencies'];
const workspaceSpecs = sections.flatMap((section) =>
  Object.entries(manifest[section] ?? {})
    .filter(([, spec]) => spec.startsWith('workspace:'))
    .map(([name, spec]) => `${name}@${spec}`),
);

// Package managers say who they are in npm_config_user_agent: "pnpm/10.3.0 npm/? node/v20…".
const agent = process.env.npm_config_user_agent ?? '';
if (workspaceSpecs.length > 0 && !agent.startsWith('pnpm/')) {
  console.error(
    `${manifest.name}: refusing to pack with ${agent.split(' ')[0] || 'this tool'}: it would ship ${workspaceSpecs.join(', ')}` +
      ' unchanged, which no one can install. Pack and publish with "pnpm release" (or pnpm pack / pnpm publish), which rewrite workspace: to versions.',
  );
  process.exit(1);
}

/** `x.ts` compiles to `x.js` and `x.d.ts`, with maps; the names without those endings. */
const modules = (dir, pattern) =>
  existsSync(dir)
    ? readdirSync(dir, { recursive: true })
        .map(String)
        .filter((f) => pattern.test(f))
    : [];
const sources = new Set(modules('src', /(?<!\.d)\.ts$/).map((f) => f.replace(/\.ts$/, '')));
const outputOf = (file) => file.replace(/(\.d)?\.(js|ts)(\.map)?$/, '');
if ([...sources].some((name) => !existsSync(`dist/${name}.js`) || !existsSync(`dist/${name}.d.ts`))) {
  rmSync('tsconfig.tsbuildinfo', { force: true });
}
const build = spawnSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-b'], { stdio: 'inherit' });
if (build.status !== 0) {
  console.error(`${manifest.name}: the build failed, so nothing is packed`);
  process.exit(build.status ?? 1);
}
for (const file of modules('dist', /\.(js|ts|map)$/)) {
  if (!sources.has(outputOf(file))) rmSync(`dist/${file}`);
}
