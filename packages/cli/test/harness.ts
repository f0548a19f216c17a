/**
 * Runs the real `switchyard` binary with the Node that runs the tests (so the suite covers
 * Node 20, 22 and 24 alike), and waits on what it prints.
 */
import { spawn } from 'node:child_process';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { createServer } from 'node:net';
import type { Server, Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterEach } from 'vitest';

/** The binary under test. */
export const BIN = fileURLToPath(new URL('../bin/switchyard.js', import.meta.url));

const running = new Set<Cli>();

/** Kills whatever a test left running (by the pid it spawned), so no process outlives its test. */
export function cleanUpAfterEach(): void {
  afterEach(() => {
    for (const cli of running) cli.kill('SIGKILL');
    running.clear();
  });
}

/** A running `switchyard` process and everything it has printed so far. */
export class Cli {
  readonly child: ChildProcessWithoutNullStreams;
  stdout = '';
  stderr = '';
  /** Resolves with the exit status (or the signal's name) once the process is gone. */
  readonly exited: Promise<number | string>;
  readonly #waiters = new Set<() => void>();

  /**
   * Starts `switchyard args`. With `terminal`, it runs on a pseudo-terminal made by util-linux
   * `script`, whose stdin and stdout then stand for the keyboard and the screen.
   */
  constructor(
    args: string[],
    { terminal = false, env = {} }: { terminal?: boolean; env?: Record<string, string | undefined> } = {},
  ) {
    const environment: NodeJS.ProcessEnv = { ...process.env };
    for (const [name, value] of Object.entries(env)) {
      if (value === undefined) delete environment[name];
      else environment[name] = value;
    }
    const argv = [process.execPath, BIN, ...args];
    const quoted = argv.map((arg) => `'${arg.replaceAll("'", `'\\''`)}'`).join(' ');
    this.child = terminal
      ? spawn('script', ['--quiet', '--return', '--flush', '--command', quoted, '/dev/null'], {
          env: environment,
          stdio: 'pipe',
        })
      : spawn(argv[0]!, argv.slice(1), { env: environment, stdio: 'pipe' });
    running.add(this);
    this.child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      this.stdout += chunk;
      this.#wake();
    });
    this.child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      this.stderr += chunk;
      this.#wake();
    });
    this.exited = new Promise((resolve) => {
      this.child.on('close', (code, signal) => {
        running.delete(this);
        this.#wake();
        resolve(code ?? signal ?? 'unknown');
      });
    });
  }

  #wake(): void {
    for (const waiter of this.#waiters) waiter();
  }

  /** Waits until `stream` matches `pattern`; fails with everything printed when it does not. */
  async waitFor(stream: 'stdout' | 'stderr', pattern: RegExp, timeout = 5000): Promise<RegExpMatchArray> {
    const started = Date.now();
    for (;;) {
      const match = this[stream].match(pattern);
      if (match) return match;
      const exited = this.child.exitCode !== null || this.child.signalCode !== null;
      if (exited || Date.now() - started > timeout) {
        throw new Error(
          `${exited ? 'exited' : 'timed out'} before ${stream} matched ${pattern}\n--- stdout\n${this.stdout}\n--- stderr\n${this.stderr}`,
        );
      }
      await new Promise<void>((resolve) => {
        const wake = (): void => {
          clearTimeout(timer);
          this.#waiters.delete(wake);
          resolve();
        };
        const timer = setTimeout(wake, 50);
        this.#waiters.add(wake);
      });
    }
  }

  /** Types a line at the prompt. */
  type(line: string): void {
    this.child.stdin.write(`${line}\n`);
  }

  /** Sends a signal to this process. */
  kill(signal: NodeJS.Signals): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
  }
}

/** The outcome of a command that ran to its end. */
export interface Finished {
  status: number | string;
  stdout: string;
  stderr: string;
}

/** Runs a command to its end, with `input` as its whole stdin. */
export async function cli(args: string[], input = ''): Promise<Finished> {
  const run = new Cli(args);
  run.child.stdin.end(input);
  const status = await run.exited;
  return { status, stdout: run.stdout, stderr: run.stderr };
}

/** A running `switchyard echo` and the port it bound. */
export interface Echo {
  cli: Cli;
  port: number;
  /** `ws://127.0.0.1:<port>` (or wss), without a path. */
  origin: string;
}

/** Starts `switchyard echo --port 0 --host 127.0.0.1` with more flags, and reads its port. */
export async function startEcho(args: string[] = []): Promise<Echo> {
  const run = new Cli(['echo', '--port', '0', '--host', '127.0.0.1', ...args]);
  const [, scheme, port] = await run.waitFor('stdout', /listening on (wss?):\/\/\S+ \(port (\d+)/, 10_000);
  // The banner's last line: the whole banner has arrived.
  await run.waitFor('stdout', /^Every connection, message and close is logged below\./m);
  return { cli: run, port: Number(port), origin: `${scheme}://127.0.0.1:${port}` };
}

/**
 * A TCP server on 127.0.0.1 that answers every connection with `respond`; for servers that
 * misbehave in ways no correct server can be made to.
 */
export async function rawServer(
  respond: (socket: Socket, request: string) => void,
): Promise<{ server: Server; port: number }> {
  const server = createServer((socket) => {
    socket.on('error', () => {});
    let head = '';
    const onData = (chunk: Buffer): void => {
      head += chunk.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      socket.off('data', onData);
      respond(socket, head);
    };
    socket.on('data', onData);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return { server, port: typeof address === 'object' && address ? address.port : 0 };
}

/** The value of a request header in a raw request head. */
export function headerOf(request: string, name: string): string | undefined {
  const line = request.split('\r\n').find((one) => one.toLowerCase().startsWith(`${name.toLowerCase()}:`));
  return line?.slice(name.length + 1).trim();
}
