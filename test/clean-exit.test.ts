// Ctrl-C (SIGINT) or SIGTERM on a demo or on `switchyard echo` is a clean shutdown: clients get
// 1001, and the process exits with status 0. Also through the package manager, the way the
// README starts them: a terminal's Ctrl-C signals the whole process group (npx, pnpm and node
// alike), and a `sh -c` in between would die of it and make pnpm print "ELIFECYCLE Command
// failed" (.npmrc and pnpm-workspace.yaml keep the shells out).
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { closed, openWs } from './helpers.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const demos = ['express-chat', 'koa-chat', 'fastify-chat']
  .map((name) => fileURLToPath(new URL(`../examples/${name}/server.js`, import.meta.url)))
  .filter((file) => existsSync(file));
const cli = fileURLToPath(new URL('../packages/cli/bin/switchyard.js', import.meta.url));

interface Run {
  child: ChildProcess;
  output: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const started: ChildProcess[] = [];
afterEach(() => {
  // Only what these tests started, by process group (each child leads its own).
  for (const child of started.splice(0)) {
    if (child.exitCode === null && child.signalCode === null && child.pid) {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
  }
});

/** Starts `command` as the leader of a new process group, as a terminal runs a command line. */
function start(command: string, args: string[]): Run {
  const child = spawn(command, args, {
    cwd: root,
    env: { ...process.env, PORT: '0', FORCE_COLOR: '0' },
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  started.push(child);
  let output = '';
  child.stdout!.on('data', (d: Buffer) => {
    output += d.toString();
  });
  child.stderr!.on('data', (d: Buffer) => {
    output += d.toString();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('close', (code, signal) => resolve({ code, signal }));
  });
  return { child, output: () => output, exited };
}

async function portOf(run: Run): Promise<number> {
  const pattern = /(?:https?|wss?):\/\/[^\s]+:(\d+)/;
  await expect.poll(() => pattern.test(run.output()), { timeout: 15_000 }).toBe(true);
  return Number(pattern.exec(run.output())![1]);
}

/** Signals the whole group, as Ctrl-C in a terminal (or a service manager's stop) does. */
function signalGroup(run: Run, signal: NodeJS.Signals): void {
  process.kill(-run.child.pid!, signal);
}

describe.each(demos)('the demo %s', (file) => {
  it.each(['SIGINT', 'SIGTERM'] as const)(
    'exits with status 0 on %s, after closing its clients with 1001',
    async (signal) => {
      const run = start(process.execPath, [file]);
      const port = await portOf(run);
      const client = await openWs(`ws://127.0.0.1:${port}/chat?name=ann`, ['chat']);
      const clientClosed = closed(client);
      signalGroup(run, signal);
      expect((await clientClosed).code).toBe(1001);
      expect(await run.exited).toEqual({ code: 0, signal: null });
    },
    20_000,
  );
});

describe('switchyard echo', () => {
  it.each(['SIGINT', 'SIGTERM'] as const)(
    'exits with status 0 on %s, after closing its clients with 1001',
    async (signal) => {
      const run = start(process.execPath, [cli, 'echo', '--port', '0', '--host', '127.0.0.1']);
      const port = await portOf(run);
      const client = await openWs(`ws://127.0.0.1:${port}/`);
      const clientClosed = closed(client);
      signalGroup(run, signal);
      expect((await clientClosed).code).toBe(1001);
      expect(await run.exited).toEqual({ code: 0, signal: null });
    },
    20_000,
  );
});

// The README's own command lines. pnpm is the one running this suite when there is one
// (`pnpm test`), else the README's `npx -y pnpm@10`.
const pnpm =
  /pnpm/.test(process.env.npm_execpath ?? '') && existsSync(process.env.npm_execpath!)
    ? [process.execPath, process.env.npm_execpath!]
    : ['npx', '-y', 'pnpm@10'];

describe('through the package manager, Ctrl-C ends with status 0 and no ELIFECYCLE', () => {
  it.each([
    ['pnpm switchyard echo', [...pnpm, 'switchyard', 'echo', '--port', '0', '--host', '127.0.0.1']],
    ['pnpm demo:koa', [...pnpm, 'demo:koa']],
    ['npx -y pnpm@10 demo', ['npx', '-y', 'pnpm@10', 'demo']],
  ])(
    '%s',
    async (_name, argv) => {
      const run = start(argv[0]!, argv.slice(1));
      await portOf(run);
      signalGroup(run, 'SIGINT');
      const exit = await run.exited;
      expect(run.output()).not.toContain('ELIFECYCLE');
      expect(exit).toEqual({ code: 0, signal: null });
    },
    40_000,
  );
});
