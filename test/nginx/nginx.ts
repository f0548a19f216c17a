/**
 * A real nginx (Debian's /usr/sbin/nginx) in front of a test app, started with exactly the
 * configuration docs/deployment.md shows: the block is read from the doc, and only the ports,
 * the certificate paths and optionally `proxy_read_timeout` are substituted. Runs as any user:
 * its own prefix in a temp directory, every temp path inside it, `daemon off`.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const NGINX = '/usr/sbin/nginx';
const DOC = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'docs', 'deployment.md');

/** The first ```nginx block of docs/deployment.md, as users copy it. */
export function documentedConfig(): string {
  const match = /```nginx\n([\s\S]*?)```/.exec(readFileSync(DOC, 'utf8'));
  if (!match) throw new Error('docs/deployment.md has no ```nginx block');
  return match[1]!;
}

/** Replaces `from` with `to`, insisting that `from` occurs exactly once (the doc changed otherwise). */
function substitute(config: string, from: string, to: string): string {
  const parts = config.split(from);
  if (parts.length !== 2)
    throw new Error(
      `expected "${from}" exactly once in the documented nginx config, found it ${parts.length - 1} times`,
    );
  return parts.join(to);
}

/** A port that was free a moment ago (nginx cannot listen on port 0 and report it). */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export interface Nginx {
  /** The plain-HTTP port (the doc's `listen 80`). */
  httpPort: number;
  /** The TLS port (the doc's `listen 443 ssl`). */
  httpsPort: number;
  /** The configuration nginx runs, for failure messages. */
  config: string;
  stop(): Promise<void>;
}

export interface NginxOptions {
  /** The app nginx forwards to (the doc's `server 127.0.0.1:3000`). */
  upstreamPort: number;
  tls: { key: string; cert: string };
  /** Replaces the doc's `proxy_read_timeout 60s`, e.g. `2s`. */
  readTimeout?: string;
  /** Replaces the doc's `proxy_buffering off` with `on`, optionally also ignoring the app's `X-Accel-Buffering`. */
  buffering?: 'on' | 'ignoring X-Accel-Buffering';
}

async function waitForPort(port: number, child: ChildProcess, log: string): Promise<void> {
  const deadline = Date.now() + 5000;
  for (;;) {
    if (child.exitCode !== null)
      throw new Error(`nginx exited with ${child.exitCode}: ${existsSync(log) ? readFileSync(log, 'utf8') : ''}`);
    const ok = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline)
      throw new Error(`nginx did not listen on ${port}: ${existsSync(log) ? readFileSync(log, 'utf8') : ''}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Starts nginx with the documented config in front of `upstreamPort`. */
export async function startNginx(options: NginxOptions): Promise<Nginx> {
  const prefix = mkdtempSync(join(tmpdir(), 'switchyard-nginx-'));
  const [httpPort, httpsPort] = [await freePort(), await freePort()];
  writeFileSync(join(prefix, 'cert.pem'), options.tls.cert);
  writeFileSync(join(prefix, 'key.pem'), options.tls.key);
  let site = documentedConfig();
  site = substitute(site, 'listen 80;', `listen 127.0.0.1:${httpPort};`);
  site = substitute(site, 'listen 443 ssl;', `listen 127.0.0.1:${httpsPort} ssl;`);
  site = substitute(site, 'server 127.0.0.1:3000;', `server 127.0.0.1:${options.upstreamPort};`);
  site = substitute(site, '/etc/letsencrypt/live/example.com/fullchain.pem', join(prefix, 'cert.pem'));
  site = substitute(site, '/etc/letsencrypt/live/example.com/privkey.pem', join(prefix, 'key.pem'));
  if (options.buffering) {
    const ignore = options.buffering === 'ignoring X-Accel-Buffering' ? ' proxy_ignore_headers X-Accel-Buffering;' : '';
    site = substitute(site, 'proxy_buffering off;', `proxy_buffering on;${ignore}`);
  }
  if (options.readTimeout)
    site = substitute(site, 'proxy_read_timeout 60s;', `proxy_read_timeout ${options.readTimeout};`);
  const log = join(prefix, 'error.log');
  const temp = (name: string): string => join(prefix, name);
  // The main context Debian's /etc/nginx/nginx.conf would provide, pointed into the prefix.
  const config = [
    // As root (CI), workers would drop to "nobody", which cannot read the private temp dir.
    ...(process.getuid?.() === 0 ? ['user root;'] : []),
    'daemon off;',
    'worker_processes 1;',
    `pid ${temp('nginx.pid')};`,
    `error_log ${log} warn;`,
    'events { worker_connections 256; }',
    'http {',
    '  access_log off;',
    `  client_body_temp_path ${temp('client_body')};`,
    `  proxy_temp_path ${temp('proxy')};`,
    `  fastcgi_temp_path ${temp('fastcgi')};`,
    `  uwsgi_temp_path ${temp('uwsgi')};`,
    `  scgi_temp_path ${temp('scgi')};`,
    site,
    '}',
  ].join('\n');
  const conf = join(prefix, 'nginx.conf');
  writeFileSync(conf, config);
  const child = spawn(NGINX, ['-p', prefix, '-c', conf, '-e', log], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  try {
    await waitForPort(httpsPort, child, log);
    await waitForPort(httpPort, child, log);
  } catch (error) {
    child.kill('SIGKILL');
    throw new Error(`${(error as Error).message}\n${stderr}\n--- nginx.conf ---\n${config}`);
  }
  return {
    httpPort,
    httpsPort,
    config,
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        // SIGTERM: nginx's fast shutdown, which also closes open WebSockets.
        child.kill('SIGTERM');
        await exited;
      }
      rmSync(prefix, { recursive: true, force: true });
    },
  };
}
