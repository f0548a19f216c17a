/**
 * The docs' import lines are true (issue 26, point 6): every name a code block of README.md,
 * docs/*.md or a package README imports from a switchyard package is exported by that package,
 * as the published types say; a block that imports an adapter imports nothing from
 * @switchyard/core, which an adapter's user never installed; and each adapter re-exports core's
 * app API, so that sentences such as "CHANNELS is exported from @switchyard/core and every
 * adapter" hold.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const root = new URL('..', import.meta.url).pathname;
const ADAPTERS = ['@switchyard/express', '@switchyard/koa', '@switchyard/fastify'];
/** Core's names an adapter leaves out: they are for writing an adapter, not for an app. */
const ADAPTER_AUTHOR_ONLY = ['createEndpoint', 'RequestExtras'];

/** A package specifier's declaration file, from the package's own `exports` map. */
function typesOf(specifier: string): string {
  const [, name, subpath] = /^@switchyard\/([\w-]+)(\/.+)?$/.exec(specifier)!;
  const manifest = JSON.parse(readFileSync(join(root, 'packages', name!, 'package.json'), 'utf8')) as {
    exports: Record<string, { types: string } | string>;
  };
  const entry = manifest.exports[subpath ? `.${subpath}` : '.'];
  if (entry === undefined || typeof entry === 'string') throw new Error(`${specifier} is not exported`);
  return join(root, 'packages', name!, entry.types);
}

const SPECIFIERS = [
  ...readdirSync(join(root, 'packages')).map((name) => `@switchyard/${name}`),
  '@switchyard/core/app',
  '@switchyard/core/protocol',
  '@switchyard/core/internal',
];

/** Every name (value or type, `default` included) each specifier exports, read by the TypeScript checker in one program. */
const exportsBySpecifier: Map<string, Set<string>> = (() => {
  const files = new Map(SPECIFIERS.map((specifier) => [specifier, typesOf(specifier)]));
  const program = ts.createProgram([...files.values()], {
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    skipLibCheck: true,
    noEmit: true,
    types: [],
  });
  const checker = program.getTypeChecker();
  const result = new Map<string, Set<string>>();
  for (const [specifier, file] of files) {
    const symbol = checker.getSymbolAtLocation(program.getSourceFile(file)!)!;
    result.set(specifier, new Set(checker.getExportsOfModule(symbol).map((exported) => exported.name)));
  }
  return result;
})();

function exportedNames(specifier: string): Set<string> {
  const names = exportsBySpecifier.get(specifier);
  if (!names) throw new Error(`unknown package ${specifier}`);
  return names;
}

interface Block {
  source: string;
  code: string;
}

function codeBlocks(file: string): Block[] {
  const text = readFileSync(file, 'utf8');
  const blocks: Block[] = [];
  for (const match of text.matchAll(/^```(?:ts|typescript|js|javascript|mjs|html)\n([\s\S]*?)^```/gm)) {
    const line = text.slice(0, match.index).split('\n').length;
    blocks.push({ source: `${relative(root, file)}:${line}`, code: match[1]! });
  }
  return blocks;
}

const documents = [
  join(root, 'README.md'),
  ...readdirSync(join(root, 'docs'))
    .filter((name) => name.endsWith('.md'))
    .map((name) => join(root, 'docs', name)),
  ...readdirSync(join(root, 'packages')).map((name) => join(root, 'packages', name, 'README.md')),
].filter((file) => {
  try {
    readFileSync(file);
    return true;
  } catch {
    return false;
  }
});

interface Import {
  source: string;
  specifier: string;
  names: string[];
}

/** The imports from switchyard packages in a block: `import x, { a, type B as C } from '@switchyard/...'`. */
function importsOf(block: Block): Import[] {
  const found: Import[] = [];
  for (const statement of block.code.split(';')) {
    const match = /^\s*import\s+(?:type\s+)?([\s\S]*?)\s+from\s+['"](@switchyard\/[\w/-]+)['"]\s*$/.exec(statement);
    if (!match) continue;
    const clause = match[1]!;
    const names: string[] = [];
    const braces = /\{([\s\S]*)\}/.exec(clause);
    for (const part of braces?.[1]?.split(',') ?? []) {
      const name = part
        .trim()
        .replace(/^type\s+/, '')
        .split(/\s+as\s+/)[0]!;
      if (name) names.push(name);
    }
    const head = clause
      .replace(/\{[\s\S]*\}/, '')
      .replace(/,\s*$/, '')
      .trim();
    if (head && !head.startsWith('*')) names.push('default');
    found.push({ source: block.source, specifier: match[2]!, names });
  }
  return found;
}

const blocks = documents.flatMap(codeBlocks);
const imports = blocks.flatMap(importsOf);

describe('the docs import only what the packages export', () => {
  it('finds the import lines (the parse itself works)', () => {
    expect(imports.length).toBeGreaterThan(40);
    expect(imports.some(({ specifier }) => specifier === '@switchyard/client')).toBe(true);
  });

  it('every name imported from a switchyard package is exported by that package', () => {
    const missing: string[] = [];
    for (const { source, specifier, names } of imports) {
      const exported = exportedNames(specifier);
      for (const name of names) if (!exported.has(name)) missing.push(`${source}: ${name} from ${specifier}`);
    }
    expect(missing).toEqual([]);
  });

  it("outside core's own README, no block imports from @switchyard/core: an app installs an adapter, not core", () => {
    const fromCore = imports
      .filter(({ source, specifier }) => specifier === '@switchyard/core' && !source.startsWith('packages/core/'))
      .map(({ source, names }) => `${source}: ${names.join(', ')}`);
    expect(fromCore).toEqual([]);
  });

  it('a block that uses an adapter imports nothing from @switchyard/core (its users never installed it)', () => {
    const mixed = blocks
      .filter((block) => {
        const specifiers = importsOf(block).map(({ specifier }) => specifier);
        return specifiers.some((s) => ADAPTERS.includes(s)) && specifiers.some((s) => s.startsWith('@switchyard/core'));
      })
      .map(({ source }) => source);
    expect(mixed).toEqual([]);
  });
});

describe("each adapter re-exports core's app API", () => {
  it('@switchyard/core/app is exactly @switchyard/core without the adapter-author names', async () => {
    const core = [...exportedNames('@switchyard/core')].filter((name) => !ADAPTER_AUTHOR_ONLY.includes(name));
    expect([...exportedNames('@switchyard/core/app')].sort()).toEqual(core.sort());
    const app = (await import('@switchyard/core/app')) as Record<string, unknown>;
    for (const name of ADAPTER_AUTHOR_ONLY) expect(app[name], name).toBeUndefined();
  });

  it('an adapter takes the list from @switchyard/core/app instead of copying it', () => {
    for (const adapter of ADAPTERS) {
      const source = readFileSync(join(root, 'packages', adapter.split('/')[1]!, 'src', 'index.ts'), 'utf8');
      expect(source, adapter).toContain("export * from '@switchyard/core/app';");
      expect(/export (?:type )?\{[^}]*\} from '@switchyard\/core';/.test(source), adapter).toBe(false);
    }
  });

  for (const adapter of ADAPTERS) {
    it(`${adapter}: every name of @switchyard/core but ${ADAPTER_AUTHOR_ONLY.join(' and ')} (types by the checker, values at run time)`, async () => {
      const core = [...exportedNames('@switchyard/core')].filter((name) => !ADAPTER_AUTHOR_ONLY.includes(name));
      const exported = exportedNames(adapter);
      expect(core.filter((name) => !exported.has(name))).toEqual([]);
      const coreValues = Object.keys(await import('@switchyard/core')).filter(
        (name) => !ADAPTER_AUTHOR_ONLY.includes(name),
      );
      const adapterModule = (await import(adapter)) as Record<string, unknown>;
      const coreModule = (await import('@switchyard/core')) as Record<string, unknown>;
      for (const name of coreValues) expect(adapterModule[name], name).toBe(coreModule[name]);
    });
  }
});
