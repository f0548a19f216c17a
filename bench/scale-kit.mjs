/**
 * What the scale benchmarks (resume.mjs, idle.mjs) share: a raised file-descriptor limit, a
 * private redis-server, the kernel's listen-queue counters, and a line on the machine's state.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';

/** The descriptor limit every process of a scale run gets (one per socket, both ends local). */
export const NOFILE = 200_000;

/**
 * Runs this program again under `ulimit -n NOFILE` unless it already is, so that every child
 * (app nodes, clients, load generators) inherits the raised limit. Returns only in the child.
 * Raising the hard limit needs root or CAP_SYS_RESOURCE; otherwise the soft limit goes as high
 * as the hard one allows and the run says so.
 */
export function withRaisedLimits() {
  if (process.env.BENCH_NOFILE) return Number(process.env.BENCH_NOFILE);
  const script = `ulimit -n ${NOFILE} 2>/dev/null || ulimit -n "$(ulimit -Hn)"; exec "$0" "$@"`;
  const limit = spawnSync('bash', ['-c', `${script.replace('exec "$0" "$@"', 'ulimit -n')}`], {
    encoding: 'utf8',
  }).stdout.trim();
  const result = spawnSync(
    'bash',
    ['-c', script, process.execPath, ...process.execArgv, process.argv[1], ...process.argv.slice(2)],
    { stdio: 'inherit', env: { ...process.env, BENCH_NOFILE: limit } },
  );
  process.exit(result.status ?? 1);
}

export function freePort() {
  return new Promise((resolve) => {
    const probe = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

/** A redis-server of its own, without persistence; `info(section)` parses INFO. */
export async function startRedis() {
  const port = await freePort();
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--maxclients', '50000'],
    { stdio: 'ignore' },
  );
  for (let up = false; !up; await sleep(50)) {
    up = await new Promise((resolve) =>
      net
        .connect(port, '127.0.0.1')
        .once('connect', function () {
          this.destroy();
          resolve(true);
        })
        .once('error', () => resolve(false)),
    );
    if (child.exitCode !== null) throw new Error(`redis-server exited with ${child.exitCode}`);
  }
  return {
    url: `redis://127.0.0.1:${port}`,
    info(section) {
      const text = execFileSync('redis-cli', ['-p', String(port), 'INFO', section], { encoding: 'utf8' });
      return Object.fromEntries(
        text
          .split(/\r?\n/)
          .filter((line) => line.includes(':') && !line.startsWith('#'))
          .map((line) => [line.slice(0, line.indexOf(':')), line.slice(line.indexOf(':') + 1)]),
      );
    },
    /** Calls per command so far, e.g. { xrange: 12, get: 3 }, and Redis's CPU seconds. */
    counters() {
      const stats = this.info('commandstats');
      const calls = {};
      for (const [key, value] of Object.entries(stats)) {
        calls[key.replace('cmdstat_', '')] = Number(/calls=(\d+)/.exec(value)?.[1] ?? 0);
      }
      const cpu = this.info('cpu');
      return { calls, cpu: Number(cpu.used_cpu_user) + Number(cpu.used_cpu_sys) };
    },
    stop() {
      child.kill('SIGKILL');
    },
  };
}

/**
 * The kernel's counters of dropped connection attempts (whole machine): accept queues full
 * (ListenOverflows), SYNs dropped for any reason (ListenDrops), and SYNs sent again by clients
 * (TCPSynRetrans).
 */
export function listenCounters() {
  const lines = readFileSync('/proc/net/netstat', 'utf8').split('\n');
  const out = {};
  for (let i = 0; i + 1 < lines.length; i += 2) {
    if (!lines[i].startsWith('TcpExt:')) continue;
    const names = lines[i].split(/\s+/);
    const values = lines[i + 1].split(/\s+/);
    for (const name of ['ListenOverflows', 'ListenDrops', 'TCPSynRetrans', 'TCPReqQFullDrop']) {
      const at = names.indexOf(name);
      if (at > 0) out[name] = Number(values[at]);
    }
  }
  return out;
}

export function difference(after, before) {
  return Object.fromEntries(Object.entries(after).map(([key, value]) => [key, value - (before[key] ?? 0)]));
}

function sysctl(name) {
  try {
    return readFileSync(`/proc/sys/${name.replaceAll('.', '/')}`, 'utf8')
      .trim()
      .replace(/\s+/g, '–');
  } catch {
    return '?';
  }
}

/** One line on the machine: cores, load average, the limits and sysctls that matter here. */
export function machine() {
  const load = os
    .loadavg()
    .map((n) => n.toFixed(1))
    .join(' ');
  return (
    `${os.cpus().length} cores, load average ${load}, ${Math.round(os.freemem() / 2 ** 20).toLocaleString('en-US')} MiB free; ` +
    `ulimit -n ${process.env.BENCH_NOFILE ?? '?'}, net.core.somaxconn ${sysctl('net.core.somaxconn')}, ` +
    `net.ipv4.tcp_max_syn_backlog ${sysctl('net.ipv4.tcp_max_syn_backlog')}, ` +
    `net.ipv4.ip_local_port_range ${sysctl('net.ipv4.ip_local_port_range')}`
  );
}

export const fmt = (n, digits = 0) =>
  Number.isFinite(n)
    ? n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })
    : '–';

export function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))];
}

/** Replaces (or appends) the section between `marker` and the next marker in bench/RESULTS.md. */
export function writeSection(marker, body) {
  const file = new URL('./RESULTS.md', import.meta.url);
  const old = readFileSync(file, 'utf8');
  const start = old.indexOf(marker);
  let next;
  if (start === -1) next = `${old.trimEnd()}\n\n${marker}\n${body}\n`;
  else {
    const end = old.indexOf('<!-- bench/', start + marker.length);
    next = `${old.slice(0, start)}${marker}\n${body}\n${end === -1 ? '' : `\n${old.slice(end)}`}`;
  }
  return import('node:fs').then(({ writeFileSync }) => writeFileSync(file, next));
}
