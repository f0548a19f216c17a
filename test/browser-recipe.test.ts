/**
 * docs/browser.md's recipe, as written: its program runs (every listen() moved to port 0 by the
 * snippets' preload), and Chromium loads its page, whose import map resolves `@switchyard/client`
 * to the served dist folder; the page connects and its message comes back (issue 26, point 13).
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useChromium } from './browser/suite.js';
import { PRELOAD, ROOT } from './snippets.js';

const chromium = useChromium();
let dir: string;
let child: ChildProcess | undefined;
let port: number;

beforeAll(async () => {
  const doc = readFileSync(join(ROOT, 'docs/browser.md'), 'utf8');
  const code = /<!-- snippet: echo \/chat -->\n```js\n([\s\S]*?)```/.exec(doc)?.[1];
  if (!code) throw new Error('docs/browser.md has no recipe block');
  // Inside the workspace, so that express and @switchyard/* resolve as they do for an app.
  dir = mkdtempSync(join(ROOT, '.browser-recipe-'));
  writeFileSync(join(dir, 'preload.mjs'), PRELOAD);
  writeFileSync(join(dir, 'recipe.mjs'), code);
  child = spawn(process.execPath, ['--import', './preload.mjs', 'recipe.mjs'], {
    cwd: dir,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  port = await new Promise<number>((resolve, reject) => {
    child!.once('message', (message) => resolve((message as { port: number }).port));
    child!.once('exit', (status) => reject(new Error(`the recipe exited with ${String(status)}`)));
  });
}, 30_000);

afterAll(() => {
  child?.kill();
  rmSync(dir, { recursive: true, force: true });
});

describe('docs/browser.md in Chromium', () => {
  it('the page imports @switchyard/client through its import map, connects, and gets its message back', async () => {
    const context = await chromium().newContext();
    try {
      const page = await context.newPage();
      const failures: string[] = [];
      page.on('pageerror', (error) => failures.push(error.message));
      page.on('response', (response) => {
        if (response.status() >= 400) failures.push(`${response.status()} ${response.url()}`);
      });
      await page.goto(`http://127.0.0.1:${port}/`);
      // Strings, evaluated in the page: vitest would rewrite a function's dynamic import.
      await page.waitForFunction("document.title === 'hello'", undefined, { timeout: 10_000 });
      const transport = await page.evaluate("import('@switchyard/client').then((client) => typeof client.connect)");
      expect(transport).toBe('function');
      expect(failures).toEqual([]);
    } finally {
      await context.close();
    }
  }, 30_000);
});
