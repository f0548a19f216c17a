/**
 * A real Redis Cluster for tests: three masters and three replicas from Debian's `redis-server`
 * in cluster mode, on ports found free at run time (client and bus ports both, `cluster-port`),
 * in a temp dir of their own, joined by `redis-cli --cluster create --cluster-replicas 1`.
 * `stop()` kills every process it started and removes the dir.
 */
import { execFile, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join as joinPath } from 'node:path';

/** Two ports at once from the OS, held until both are known, so that they differ. */
async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: count }, async () => {
      const server = net.createServer();
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      return server;
    }),
  );
  const ports = servers.map((server) => (server.address() as net.AddressInfo).port);
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  return ports;
}

/** Runs redis-cli with `args`; resolves with its output. */
export function redisCli(args: string[]): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile('redis-cli', args, { timeout: 30_000 }, (error, stdout, stderr) =>
      error ? reject(new Error(`redis-cli ${args.join(' ')}: ${error.message}\n${stdout}${stderr}`)) : resolve(stdout),
    ),
  );
}

async function waitFor<T>(what: string, check: () => Promise<T | undefined>, timeout = 15_000): Promise<T> {
  const deadline = Date.now() + timeout;
  for (;;) {
    const value = await check().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`redis cluster: ${what} within ${timeout} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** One redis-server of the cluster. */
export interface ClusterNode {
  port: number;
  busPort: number;
  child: ChildProcess;
}

export interface RedisClusterOptions {
  /** `appendonly yes` with `appendfsync always` on every node. Default: no persistence. */
  aof?: boolean;
  /** `cluster-node-timeout` (ms): how long before a silent master is failed over. Default 1000. */
  nodeTimeout?: number;
}

export class RedisCluster {
  readonly nodes: ClusterNode[] = [];
  readonly #dir: string;
  readonly #options: RedisClusterOptions;

  private constructor(options: RedisClusterOptions) {
    this.#options = options;
    this.#dir = mkdtempSync(joinPath(tmpdir(), 'sy-cluster-'));
  }

  /** Starts six nodes and joins them as three masters, each with one replica. */
  static async start(options: RedisClusterOptions = {}): Promise<RedisCluster> {
    const cluster = new RedisCluster(options);
    try {
      const ports = await freePorts(12);
      for (let i = 0; i < 6; i++) cluster.#spawn(ports[2 * i]!, ports[2 * i + 1]!);
      await Promise.all(cluster.nodes.map((node) => waitFor('a node started', () => cluster.#ping(node.port))));
      await redisCli([
        '--cluster',
        'create',
        ...cluster.nodes.map((node) => `127.0.0.1:${node.port}`),
        '--cluster-replicas',
        '1',
        '--cluster-yes',
      ]);
      await cluster.settled();
      return cluster;
    } catch (error) {
      await cluster.stop();
      throw error;
    }
  }

  #spawn(port: number, busPort: number): void {
    const persistence = this.#options.aof ? ['--appendonly', 'yes', '--appendfsync', 'always'] : ['--appendonly', 'no'];
    const child = spawn(
      'redis-server',
      [
        '--port',
        String(port),
        '--cluster-port',
        String(busPort),
        '--bind',
        '127.0.0.1',
        '--cluster-enabled',
        'yes',
        '--cluster-config-file',
        `nodes-${port}.conf`,
        '--cluster-node-timeout',
        String(this.#options.nodeTimeout ?? 1000),
        '--dir',
        this.#dir,
        '--appendfilename',
        `appendonly-${port}.aof`,
        '--appenddirname',
        `aof-${port}`,
        '--save',
        '',
        // A replica's first sync at once, not after diskless sync's 5 s wait for other replicas.
        '--repl-diskless-sync-delay',
        '0',
        ...persistence,
      ],
      { stdio: 'ignore' },
    );
    this.nodes.push({ port, busPort, child });
    // A test process that dies without stop() leaves no redis-server behind.
    const orphan = (): void => {
      child.kill('SIGKILL');
    };
    process.once('exit', orphan);
    child.once('exit', () => process.off('exit', orphan));
  }

  async #ping(port: number): Promise<true | undefined> {
    return (await redisCli(['-p', String(port), 'PING'])).trim() === 'PONG' ? true : undefined;
  }

  /**
   * The live nodes: every one reports `cluster_state:ok` with all slots covered, and every
   * replica is in sync, for a whole second (right after `--cluster create` the masters can go
   * back to `fail` for a few hundred ms before they agree).
   */
  async settled(timeout = 15_000): Promise<void> {
    let okSince: number | undefined;
    await waitFor(
      'every live node reports cluster_state:ok for 1 s, all slots covered, every replica in sync',
      async () => {
        const ok = await this.#allOk();
        if (!ok) okSince = undefined;
        else okSince ??= Date.now();
        return okSince !== undefined && Date.now() - okSince >= 1000 ? true : undefined;
      },
      timeout,
    );
  }

  async #allOk(): Promise<boolean> {
    for (const node of this.live()) {
      const info = await redisCli(['-p', String(node.port), 'CLUSTER', 'INFO']);
      if (!info.includes('cluster_state:ok') || !info.includes('cluster_slots_ok:16384')) return false;
      const replication = await redisCli(['-p', String(node.port), 'INFO', 'replication']);
      if (replication.includes('role:slave') && !replication.includes('master_link_status:up')) return false;
    }
    return true;
  }

  /** Nodes whose process is running. */
  live(): ClusterNode[] {
    return this.nodes.filter((node) => node.child.exitCode === null && node.child.signalCode === null);
  }

  /** What a client is given: every node's address. */
  get rootNodes(): Array<{ url: string }> {
    return this.nodes.map((node) => ({ url: `redis://127.0.0.1:${node.port}` }));
  }

  /** The node serving `slot` as master now, asked of a live node. */
  async masterOf(slot: number): Promise<ClusterNode> {
    const port = await waitFor('a master for the slot', async () => {
      const reply = await redisCli(['-p', String(this.live()[0]!.port), 'CLUSTER', 'SHARDS']);
      return findMasterPort(reply, slot);
    });
    return this.nodes.find((node) => node.port === port)!;
  }

  /** The slot of `key`, as Redis computes it. */
  async slotOf(key: string): Promise<number> {
    return Number((await redisCli(['-p', String(this.live()[0]!.port), 'CLUSTER', 'KEYSLOT', key])).trim());
  }

  /** SIGKILLs a node; resolves once it is gone. */
  async kill(node: ClusterNode): Promise<void> {
    if (node.child.exitCode !== null || node.child.signalCode !== null) return;
    const exited = new Promise((resolve) => node.child.once('exit', resolve));
    node.child.kill('SIGKILL');
    await exited;
  }

  /**
   * Moves `slot`, with its keys, from its master to another master, as `redis-cli --cluster
   * reshard` does: IMPORTING/MIGRATING, MIGRATE in batches, then SETSLOT NODE on both.
   */
  async migrate(slot: number, to: ClusterNode): Promise<void> {
    const from = await this.masterOf(slot);
    if (from === to) throw new Error('redis cluster: the slot is already there');
    const id = async (node: ClusterNode): Promise<string> =>
      (await redisCli(['-p', String(node.port), 'CLUSTER', 'MYID'])).trim();
    const [fromId, toId] = [await id(from), await id(to)];
    await redisCli(['-p', String(to.port), 'CLUSTER', 'SETSLOT', String(slot), 'IMPORTING', fromId]);
    await redisCli(['-p', String(from.port), 'CLUSTER', 'SETSLOT', String(slot), 'MIGRATING', toId]);
    for (;;) {
      const keys = (await redisCli(['-p', String(from.port), 'CLUSTER', 'GETKEYSINSLOT', String(slot), '100']))
        .split('\n')
        .filter((key) => key !== '');
      if (keys.length === 0) break;
      await redisCli([
        '-p',
        String(from.port),
        'MIGRATE',
        '127.0.0.1',
        String(to.port),
        '',
        '0',
        '5000',
        'KEYS',
        ...keys,
      ]);
    }
    await redisCli(['-p', String(to.port), 'CLUSTER', 'SETSLOT', String(slot), 'NODE', toId]);
    await redisCli(['-p', String(from.port), 'CLUSTER', 'SETSLOT', String(slot), 'NODE', toId]);
  }

  /** Kills every node and removes the dir. */
  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((node) => this.kill(node)));
    rmSync(this.#dir, { recursive: true, force: true });
  }
}

/** In a `CLUSTER SHARDS` reply (redis-cli's text form), the port of the master whose ranges hold `slot`. */
function findMasterPort(reply: string, slot: number): number | undefined {
  // Each shard: "slots", its range bounds, "nodes", then per node fields incl. "port", n, "role", "master"|"replica", "health", "online"|...
  const lines = reply.split('\n').map((line) => line.trim());
  let ranges: number[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (lines[i] === 'slots') {
      ranges = [];
      for (let k = i + 1; k < lines.length && /^\d+$/.test(lines[k]!); k++) ranges.push(Number(lines[k]));
    }
    if (lines[i] === 'port') {
      const port = Number(lines[i + 1]);
      const role = lines[lines.indexOf('role', i) + 1];
      const health = lines[lines.indexOf('health', i) + 1];
      let holds = false;
      for (let r = 0; r + 1 < ranges.length; r += 2) if (slot >= ranges[r]! && slot <= ranges[r + 1]!) holds = true;
      if (holds && role === 'master' && health === 'online') return port;
    }
  }
  return undefined;
}
