/**
 * Node's tick objects keep the maps that `process.nextTick`'s feedback recorded, once core is
 * loaded (src/internals/tick-shape.ts). Each case runs in a child process with `--expose-gc`
 * (full collections on demand) and `--allow-natives-syntax` (`%DebugPrint`, which prints the
 * states of nextTick's property sites). It runs on every Node of the runtime matrix.
 * Run on the built package (`npx tsc -b`).
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const core = fileURLToPath(new URL('../dist/index.js', import.meta.url));

/**
 * Warms nextTick until it has feedback, then collects garbage `collections` times in a timer
 * (no tick queued), queues one more tick, and prints nextTick with its feedback.
 */
function siteStates(options: { loadCore: boolean; collections: number }): string[] {
  const script = `
    ${options.loadCore ? `await import(${JSON.stringify(core)});` : ''}
    let n = 0;
    (function go() { if (++n < 3000) process.nextTick(go, 1, 2); })();
    setTimeout(() => {
      for (let i = 0; i < ${options.collections}; i++) gc();
      setTimeout(() => {
        process.nextTick(() => {}, 1, 2);
        setTimeout(() => { %DebugPrint(process.nextTick); }, 5);
      }, 5);
    }, 20);
  `;
  const child = spawnSync(
    process.execPath,
    ['--expose-gc', '--allow-natives-syntax', '--input-type=module', '-e', script],
    { encoding: 'utf8', timeout: 60_000 },
  );
  expect(child.status, child.stderr).toBe(0);
  return [...child.stdout.matchAll(/DefineKeyedOwnPropertyInLiteral (\w+)/g)].map((match) => match[1] ?? '');
}

/**
 * nextTick's property sites by Node major: Node 20 adds four properties (two ids, `callback`,
 * `args`), Node 22 and 24 five (the async context frame after the ids); Node 26 builds the tick
 * with no per-property sites at all, so the hazard does not exist there.
 */
const SITES: Record<string, number> = { '20': 4, '22': 5, '24': 5, '26': 0 };
const sites = SITES[process.versions.node.split('.')[0] ?? ''];

describe('tick shape', () => {
  it('a Node this test knows', () => {
    expect(sites, `nextTick's sites on Node ${process.versions.node}: add them to SITES`).toBeDefined();
  });

  it('without core, collections with no tick queued leave all but the first of nextTick sites megamorphic', () => {
    // The hazard itself, on this Node: if this stops holding, tick-shape.ts can go.
    const expected = sites ? ['MONOMORPHIC', ...Array<string>(sites - 1).fill('MEGAMORPHIC')] : [];
    expect(siteStates({ loadCore: false, collections: 8 })).toEqual(expected);
  });

  it('with core loaded, the same collections leave every site monomorphic', () => {
    expect(siteStates({ loadCore: true, collections: 8 })).toEqual(Array<string>(sites ?? 0).fill('MONOMORPHIC'));
  });

  it('with core loaded, a tick carrying an AsyncLocalStorage store is not what is kept', async () => {
    const { AsyncLocalStorage } = await import('node:async_hooks');
    const { tickShapeHolder } = await import('../src/internals/tick-shape.js');
    const storage = new AsyncLocalStorage<{ secret: string }>();
    await storage.run({ secret: 'request' }, () => import('../src/internals/node.js'));
    await new Promise((resolve) => setImmediate(resolve));
    const kept = tickShapeHolder();
    expect(kept).toBeDefined();
    // Two ids (and on Node 22 and later the context frame), the callback and `args`: nothing
    // else, whatever context core loaded in.
    const frame = sites === 4 ? [] : ['Symbol(kAsyncContextFrame)'];
    expect(Reflect.ownKeys(kept as object)).toHaveLength(4 + frame.length);
    expect(Object.values(kept as object)).toHaveLength(2);
    expect(Object.getOwnPropertySymbols(kept as object).map(String)).toEqual([
      'Symbol(async_id_symbol)',
      'Symbol(trigger_async_id_symbol)',
      ...frame,
    ]);
  });
});
