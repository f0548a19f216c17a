/**
 * Every code block in README.md and docs/ is a real program: extracted (test/snippets.ts) into a
 * directory inside the workspace (so that `@switchyard/express`, `express` and the rest resolve
 * from the root node_modules), type-checked and compiled with tsc in strict mode, then each one
 * run on port 0: servers must listen, and with an annotation answer a WebSocket or echo through
 * it; modules are imported by the blocks that use them; programs must exit with status 0.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import { selfSignedCert } from './helpers.js';
import { PRELOAD, ROOT, documentationFiles, extractSnippets } from './snippets.js';
import type { Check, Snippet } from './snippets.js';

const snippets: Snippet[] = documentationFiles().flatMap(extractSnippets);
let dir: string;
let compiled: { status: number | null; output: string };

beforeAll(async () => {
  const tls = await selfSignedCert();
  dir = mkdtempSync(join(ROOT, '.snippets-'));
  mkdirSync(join(dir, 'src'));
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ type: 'module', private: true }));
  writeFileSync(join(dir, 'preload.mjs'), PRELOAD);
  writeFileSync(
    join(dir, 'tsconfig.json'),
    JSON.stringify(
      {
        compilerOptions: {
          target: 'ES2022',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          lib: ['ES2023', 'DOM'],
          types: ['node'],
          strict: true,
          noUncheckedIndexedAccess: true,
          skipLibCheck: true,
          allowJs: true,
          checkJs: true,
          rootDir: 'src',
          outDir: 'out',
          noEmitOnError: false,
          // Nest's decorators (docs/nestjs.md).
          experimentalDecorators: true,
          emitDecoratorMetadata: true,
        },
        include: ['src'],
      },
      null,
      2,
    ),
  );
  for (const snippet of snippets) writeFileSync(join(dir, 'src', snippet.file), snippet.code);
  // Snippets that serve wss:// read their key and certificate from TLS_KEY / TLS_CERT.
  writeFileSync(join(dir, 'key.pem'), tls.key);
  writeFileSync(join(dir, 'cert.pem'), tls.cert);
  const result = spawnSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', dir], {
    cwd: dir,
    encoding: 'utf8',
  });
  compiled = { status: result.status, output: `${result.stdout}${result.stderr}` };
}, 120_000);

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** tsc reports paths in the temp dir; name the markdown line instead. */
function explain(output: string): string {
  let text = output;
  for (const snippet of snippets) text = text.split(`src/${snippet.file}`).join(`${snippet.source} (${snippet.file})`);
  return text;
}

interface Listening {
  address: string;
  port: number;
}

/** Runs a compiled snippet and applies its check. */
async function run(snippet: Snippet): Promise<void> {
  const out = join(dir, 'out', snippet.file.replace(/\.ts$/, '.js'));
  const child = spawn(process.execPath, ['--import', join(dir, 'preload.mjs'), out], {
    cwd: dir,
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    env: { ...process.env, NODE_ENV: 'test', TLS_KEY: join(dir, 'key.pem'), TLS_CERT: join(dir, 'cert.pem') },
  });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr!.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const listening = new Promise<Listening>((resolve) =>
    child.once('message', (message) => resolve(message as Listening)),
  );
  try {
    const first = await Promise.race([
      listening.then((where) => ({ where })),
      exited.then((code) => ({ code })),
      new Promise<{ timeout: true }>((resolve) => setTimeout(() => resolve({ timeout: true }), 10_000)),
    ]);
    if ('timeout' in first) throw new Error('neither listened nor exited within 10 s');
    if ('code' in first) {
      if (first.code !== 0) throw new Error(`exited with status ${first.code}`);
      if (snippet.checks.some((check) => check.kind !== 'listen' && check.kind !== 'exits'))
        throw new Error('exited before listening');
      return;
    }
    if (snippet.checks.some((check) => check.kind === 'exits')) {
      const code = await exited;
      if (code !== 0) throw new Error(`exited with status ${code}`);
      return;
    }
    for (const check of snippet.checks) await probe(first.where, check);
  } catch (error) {
    throw new Error(`${snippet.source}: ${(error as Error).message}\n--- output ---\n${output}`);
  } finally {
    if (child.exitCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
  }
}

async function probe(where: Listening, check: Check): Promise<void> {
  if (check.kind !== 'connect' && check.kind !== 'echo' && check.kind !== 'refuse') return;
  const host =
    where.address === '::' || where.address === '0.0.0.0'
      ? '127.0.0.1'
      : where.address.includes(':')
        ? `[${where.address}]`
        : where.address;
  const ws = new WebSocket(`ws://${host}:${where.port}${check.path}`);
  try {
    if (check.kind === 'refuse') {
      const status = await new Promise<number | string>((resolve) => {
        ws.once('open', () => resolve('the handshake succeeded'));
        ws.once('error', (error) => resolve(error.message));
        ws.once('unexpected-response', (_req, res) => {
          resolve(res.statusCode ?? 0);
          res.destroy();
        });
      });
      expect(status, `handshake to ${check.path}`).toBe(check.status);
      return;
    }
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
      ws.once('unexpected-response', (_req, res) => reject(new Error(`the handshake got HTTP ${res.statusCode}`)));
    });
    if (check.kind === 'echo') {
      const received: Array<{ data: Buffer; isBinary: boolean }> = [];
      ws.on('message', (data: Buffer, isBinary) => received.push({ data, isBinary }));
      const bytes = Buffer.from([0x00, 0xff, 0xfe, 0x80, 0x7f]);
      ws.send('héllo ✓');
      ws.send(bytes);
      const expected = [
        { data: Buffer.from('héllo ✓'), isBinary: false },
        { data: bytes, isBinary: true },
      ];
      // A greeting sent on open may come first; the echoes are the last two messages.
      await vi.waitFor(() => expect(received.slice(-2)).toEqual(expected), { timeout: 3000, interval: 10 });
    }
  } finally {
    ws.on('error', () => {});
    ws.terminate();
  }
}

describe('code blocks in README.md and docs/', () => {
  it('finds the blocks', () => {
    expect(snippets.length).toBeGreaterThan(20);
  });

  it('type-checks and compiles every block with tsc (strict)', () => {
    expect(compiled.status, explain(compiled.output)).toBe(0);
  });

  for (const snippet of snippets) {
    if (snippet.checks.some((check) => check.kind === 'module')) continue;
    const what = snippet.checks
      .map((check) => ('path' in check ? `${check.kind} ${check.path}` : check.kind))
      .join('; ');
    it(`${snippet.source} runs (${what})`, async () => {
      await run(snippet);
    }, 20_000);
  }
});
