// packages/core/ARCHITECTURE.md stays a true map: every folder and file it names under src/
// exists, and every folder of src/ is named in it.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const core = join(dirname(fileURLToPath(import.meta.url)), '..');
const text = readFileSync(join(core, 'ARCHITECTURE.md'), 'utf8');
/** Every `src/...` path in backquotes. */
const named = [...text.matchAll(/`(src\/[^`\s]*)`/g)].map((match) => match[1]!);

describe('ARCHITECTURE.md', () => {
  it('names folders and files', () => {
    expect(named.filter((path) => path.endsWith('/')).length).toBeGreaterThanOrEqual(7);
    expect(named.filter((path) => path.endsWith('.ts')).length).toBeGreaterThanOrEqual(10);
  });

  it('names only folders and files that exist', () => {
    const missing = named.filter((path) => {
      const full = join(core, path);
      if (!existsSync(full)) return true;
      return path.endsWith('/') ? !statSync(full).isDirectory() : !statSync(full).isFile();
    });
    expect(missing).toEqual([]);
  });

  it('names every folder of src/', () => {
    const folders = readdirSync(join(core, 'src'), { withFileTypes: true })
      .filter((entry) => entry.isDirectory())
      .map((entry) => `src/${entry.name}/`);
    expect(folders.filter((folder) => !named.includes(folder))).toEqual([]);
  });
});

describe("a connection's state has one owner (issue 28)", () => {
  const sources = (dir: string): string[] =>
    readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
      entry.isDirectory() ? sources(join(dir, entry.name)) : entry.name.endsWith('.ts') ? [join(dir, entry.name)] : [],
    );

  it("only connection/connection.ts imports the Connection's slot keys (connection/symbols.ts), so no other module can write them", () => {
    const importers = sources(join(core, 'src'))
      .filter((file) => /from '\.{1,2}\/(?:connection\/)?symbols\.js'/.test(readFileSync(file, 'utf8')))
      .map((file) => file.slice(join(core, 'src').length + 1));
    expect(importers).toEqual(['connection/connection.ts']);
  });
});
