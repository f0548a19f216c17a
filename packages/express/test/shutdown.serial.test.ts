// Express's shutdown in a process of its own, with an upper bound on how long it takes: alone on
// the machine (see vitest.config.ts).
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it, onTestFinished } from 'vitest';
import { closed, openWs } from '../../../test/helpers.js';

describe('express adapter', () => {
  it('shutdown: clients get 1001, close handlers run, and the process exits by itself', async () => {
    const child = spawn(process.execPath, [fileURLToPath(new URL('./fixtures/shutdown-server.mjs', import.meta.url))], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => {
      output += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      output += d.toString();
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    // A test that fails before the SIGTERM leaves no server process behind.
    onTestFinished(() => {
      if (child.exitCode === null) child.kill('SIGKILL');
    });
    // Starting a Node process takes seconds on a loaded machine; only the shutdown is timed.
    await expect.poll(() => /port (\d+)/.test(output), { timeout: 20_000 }).toBe(true);
    const port = Number(/port (\d+)/.exec(output)![1]);
    const clients = [await openWs(`ws://127.0.0.1:${port}/echo`), await openWs(`ws://127.0.0.1:${port}/echo`)];
    const codes = Promise.all(clients.map(closed));
    const started = Date.now();
    child.kill('SIGTERM');
    expect((await codes).map((c) => c.code)).toEqual([1001, 1001]);
    expect(await exited).toBe(0);
    expect(Date.now() - started).toBeLessThan(3000);
    expect(output.match(/close handler 1001/g)).toHaveLength(2);
    expect(output.indexOf('shutdown done')).toBeGreaterThan(output.lastIndexOf('close handler 1001'));
    expect(output).toContain('server closed');
  }, 30_000);
});
