/** A real redis-server on a free port, for tests; it can be killed and restarted on that port. */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import net from 'node:net';

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function waitForPort(port: number, up: boolean, timeout = 5000): Promise<void> {
  const deadline = Date.now() + timeout;
  for (;;) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open === up) return;
    if (Date.now() > deadline) throw new Error(`redis-server on ${port} did not ${up ? 'start' : 'stop'}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** Persistence of a test server: none (the default), or an append-only file. */
export interface RedisServerOptions {
  /** A directory for `appendonly yes`. */
  aofDir?: string;
  /**
   * With `aofDir`: `'always'` (the default) fsyncs every write, so a SIGKILL loses nothing Redis
   * acknowledged; `'everysec'`, Redis's common setting, can lose the last second of writes.
   */
  appendfsync?: 'always' | 'everysec';
}

export class RedisServer {
  #child: ChildProcess | undefined;
  private constructor(
    readonly port: number,
    readonly options: RedisServerOptions = {},
  ) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  static async start(options?: RedisServerOptions): Promise<RedisServer> {
    const server = new RedisServer(await freePort(), options);
    await server.restart();
    return server;
  }

  async restart(): Promise<void> {
    const { aofDir, appendfsync = 'always' } = this.options;
    const persistence =
      aofDir === undefined
        ? ['--appendonly', 'no']
        : ['--appendonly', 'yes', '--appendfsync', appendfsync, '--dir', aofDir];
    this.#child = spawn(
      'redis-server',
      ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', ...persistence],
      { stdio: 'ignore' },
    );
    await waitForPort(this.port, true);
  }

  async stop(): Promise<void> {
    const child = this.#child;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
    await waitForPort(this.port, false);
  }
}
