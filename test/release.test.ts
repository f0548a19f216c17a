/**
 * The release path is derived from the workspace: every non-private package under the folders
 * pnpm-workspace.yaml names is released, and everything that lists the packages (the Changesets
 * group, TypeDoc, CONTRIBUTING's tree) follows, with the same metadata as the others. A new
 * package that is left out of any of them fails here.
 */
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PACKAGES, releasedPackages } from '../scripts/release.mjs';

const root = join(import.meta.dirname, '..');
const json = (file: string) => JSON.parse(readFileSync(join(root, file), 'utf8'));
const manifests = PACKAGES.map(({ dir }) => ({ dir, manifest: json(`${dir}/package.json`) }));
const core = json('packages/core/package.json');

describe('the released packages', () => {
  it('are every non-private package under packages/, dependencies first', () => {
    const onDisk = readdirSync(join(root, 'packages'))
      .filter((dir) => existsSync(join(root, 'packages', dir, 'package.json')))
      .map((dir) => json(`packages/${dir}/package.json`))
      .filter((manifest) => !manifest.private)
      .map((manifest) => manifest.name);
    expect(PACKAGES.map((p) => p.name).sort()).toEqual(onDisk.sort());
    expect(PACKAGES.map((p) => p.name)).toContain('@switchyard/otel');
    expect(PACKAGES[0]?.name).toBe('@switchyard/core');
  });

  it('are exactly the Changesets fixed group, so they share one version', () => {
    const config = json('.changeset/config.json');
    expect(config.fixed).toHaveLength(1);
    expect([...config.fixed[0]].sort()).toEqual(PACKAGES.map((p) => p.name).sort());
  });

  it('a ninth package in the workspace is released, after what it depends on; private ones are not', () => {
    const dir = mkdtempSync(join(tmpdir(), 'switchyard-workspace-'));
    try {
      writeFileSync(
        join(dir, 'pnpm-workspace.yaml'),
        "packages:\n  - packages/*\n  - 'examples/*'\n  - bench\n\nshellEmulator: true\n",
      );
      const write = (folder: string, manifest: object) => {
        mkdirSync(join(dir, folder), { recursive: true });
        writeFileSync(join(dir, folder, 'package.json'), JSON.stringify(manifest));
      };
      for (const { dir: folder, manifest } of manifests) write(folder, manifest);
      write('packages/aaa-ninth', { name: '@switchyard/ninth', dependencies: { '@switchyard/otel': 'workspace:*' } });
      write('examples/demo', { name: 'demo', private: true });
      write('bench', { name: 'bench', private: true });
      const names = releasedPackages(dir).map((p) => p.name);
      expect(names).toHaveLength(PACKAGES.length + 1);
      expect(names).toContain('@switchyard/ninth');
      expect(names.indexOf('@switchyard/ninth')).toBeGreaterThan(names.indexOf('@switchyard/otel'));
      expect(names.indexOf('@switchyard/otel')).toBeGreaterThan(names.indexOf('@switchyard/core'));
      expect(names).not.toContain('demo');
      expect(names).not.toContain('bench');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it.each(manifests)(
    '$dir has the files, prepack guard, engines and metadata every package has',
    ({ dir, manifest }) => {
      for (const file of ['README.md', 'LICENSE', 'CHANGELOG.md'])
        expect(existsSync(join(root, dir, file)), file).toBe(true);
      expect(manifest.scripts?.prepack).toBe(core.scripts.prepack);
      expect(manifest.engines).toEqual(core.engines);
      // dist's JavaScript and declarations only: no src/, no source maps (and the CLI's bin).
      expect(manifest.files.filter((f: string) => f !== 'bin')).toEqual(core.files);
      expect(manifest.publishConfig).toEqual(core.publishConfig);
      expect(manifest.repository.directory).toBe(dir);
    },
  );

  it('the root package.json has the same engines as the packages', () => {
    expect(json('package.json').engines).toEqual(core.engines);
  });

  it('TypeDoc documents every package that exports an API', () => {
    const entryPoints: string[] = json('typedoc.json').entryPoints;
    for (const { dir, manifest } of manifests) if (manifest.exports?.['.']) expect(entryPoints).toContain(dir);
  });

  it("CONTRIBUTING's tree names every package and example", () => {
    const contributing = readFileSync(join(root, 'CONTRIBUTING.md'), 'utf8');
    const tree = contributing.slice(
      contributing.indexOf('## Repository'),
      contributing.indexOf('Protocol logic lives'),
    );
    for (const folder of ['packages', 'examples'])
      for (const name of readdirSync(join(root, folder)).filter((n) =>
        existsSync(join(root, folder, n, 'package.json')),
      ))
        expect(tree).toContain(`${folder}/${name}`);
    expect(contributing).not.toMatch(/\b(seven|eight|nine) (published )?packages\b/);
  });
});
