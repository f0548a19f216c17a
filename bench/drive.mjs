/**
 * Driving one server with the load generator: child processes, measuring windows, and the four
 * metrics. Shared by run.mjs (the tables) and profile.mjs (CPU profiles and heap snapshots).
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';

const here = (path) => fileURLToPath(new URL(path, import.meta.url));

/** Every server, in table order. `peer` names the peer adapter an adapter must beat. */
export const SERVERS = [
  { id: 'tcp', name: 'raw TCP echo (floor)', tcp: true },
  { id: 'ws', name: 'raw ws, noServer (baseline)' },
  { id: 'switchyard-express', name: 'switchyard · Express', framework: 'express', peer: 'express-ws' },
  { id: 'switchyard-express-capped', name: 'switchyard · Express, every admission control on' },
  { id: 'express-ws', name: 'express-ws', framework: 'express' },
  { id: 'switchyard-koa', name: 'switchyard · Koa', framework: 'koa', peer: 'koa-easy-ws' },
  { id: 'koa-easy-ws', name: 'koa-easy-ws', framework: 'koa' },
  { id: 'switchyard-fastify', name: 'switchyard · Fastify', framework: 'fastify', peer: 'fastify-websocket' },
  { id: 'fastify-websocket', name: '@fastify/websocket', framework: 'fastify' },
  { id: 'switchyard-hono', name: 'switchyard · Hono', framework: 'hono', peer: 'hono-node-ws' },
  { id: 'hono-node-ws', name: '@hono/node-ws', framework: 'hono' },
  { id: 'switchyard-nestjs', name: 'switchyard · NestJS (platform-express)', framework: 'nestjs', peer: 'nestjs-ws' },
  { id: 'nestjs-ws', name: '@nestjs/platform-ws', framework: 'nestjs' },
  { id: 'crossws', name: 'crossws (Node adapter)' },
  // Observability (docs/observability.md): the row above has `stats` on (the default) and no
  // channel subscriber; these two take stats off, or add @switchyard/otel.
  { id: 'switchyard-express-nostats', name: 'switchyard · Express, stats: false' },
  { id: 'switchyard-express-otel', name: 'switchyard · Express + @switchyard/otel' },
  // With BENCH_BEFORE=<another checkout, built>: the same Express server from that checkout.
  ...(process.env.BENCH_BEFORE
    ? [{ id: 'switchyard-express-before', name: `switchyard · Express at ${process.env.BENCH_BEFORE}` }]
    : []),
];

/** Payload of a broadcast message; bench/servers/_harness.mjs publishes exactly this many bytes. */
export const PAYLOAD_BYTES = 1024;

/** Starts a child program with an IPC channel; `rpc` sends a command and awaits its answer. */
export function start(file, execArgv = []) {
  const child = fork(file, [], { execArgv, stdio: ['ignore', 'inherit', 'pipe', 'ipc'] });
  let stderr = '';
  child.stderr.on('data', (chunk) => {
    stderr = (stderr + chunk).slice(-4000);
  });
  const calls = new Map();
  let nextId = 0;
  let exited = false;
  const ready = new Promise((resolve, reject) => {
    child.on('message', (message) => {
      if (message.type === 'ready') return resolve(message);
      const call = calls.get(message.id);
      if (!call) return;
      calls.delete(message.id);
      if (message.error) call.reject(new Error(message.error));
      else call.resolve(message.result);
    });
    child.on('exit', (code, signal) => {
      exited = true;
      const error = new Error(`${file} exited (${signal ?? code})${stderr ? `:\n${stderr}` : ''}`);
      reject(error);
      for (const call of calls.values()) call.reject(error);
      calls.clear();
    });
  });
  ready.catch(() => {});
  return {
    ready,
    get stderr() {
      return stderr;
    },
    rpc(message, timeout = 60_000) {
      if (exited) return Promise.reject(new Error(`${file} is not running${stderr ? `:\n${stderr}` : ''}`));
      const id = nextId++;
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          calls.delete(id);
          reject(new Error(`${file}: no answer to ${message.cmd} within ${timeout} ms`));
        }, timeout);
        calls.set(id, {
          resolve: (value) => {
            clearTimeout(timer);
            resolve(value);
          },
          reject: (error) => {
            clearTimeout(timer);
            reject(error);
          },
        });
        child.send({ ...message, id });
      });
    },
    async stop() {
      if (exited) return;
      const gone = new Promise((resolve) => child.once('exit', resolve));
      child.kill();
      await gone;
    },
  };
}

export async function startServer(server, flags = []) {
  // BENCH_SERVER_FLAGS adds Node flags to every server, e.g. --trace-gc.
  const extra = (globalThis.process.env.BENCH_SERVER_FLAGS ?? '').split(' ').filter(Boolean);
  const process = start(here(`./servers/${server.id}.mjs`), ['--expose-gc', ...extra, ...flags]);
  const { port } = await process.ready;
  return Object.assign(process, { port });
}

export async function startLoad() {
  const load = start(here('./load.mjs'));
  await load.ready;
  return load;
}

/** Reads server CPU and client counts at (nearly) the same instant. */
export async function snapshot(server, load) {
  const [cpu, count] = await Promise.all([server.rpc({ cmd: 'cpu' }), load.rpc({ cmd: 'count' })]);
  return {
    cpu: cpu.cpu,
    user: cpu.user,
    system: cpu.system,
    done: count.done,
    failed: count.failed,
    at: performance.now(),
  };
}

/**
 * Warms up, then measures one window: operations per second and server µs per operation.
 * `settings.profile` (bench/profile.mjs) brackets the window with a CPU profile.
 */
export async function window(server, load, settings) {
  await sleep(settings.warmup);
  await settings.profile?.start();
  const before = await snapshot(server, load);
  await sleep(settings.window);
  const after = await snapshot(server, load);
  await settings.profile?.stop();
  const ops = after.done - before.done;
  return {
    rate: ops / ((after.at - before.at) / 1000),
    cpu: ops > 0 ? (after.cpu - before.cpu) / ops : NaN,
    // The kernel's share (system) against the process's own code (user), per operation.
    user: ops > 0 ? (after.user - before.user) / ops : NaN,
    system: ops > 0 ? (after.system - before.system) / ops : NaN,
    failed: after.failed - before.failed,
  };
}

export async function withLoad(run) {
  const load = await startLoad();
  try {
    return await run(load);
  } finally {
    await load.rpc({ cmd: 'stop' }).catch(() => {});
    await load.stop();
  }
}

// Metrics. Each returns plain numbers.

export async function echoRun(server, spec, settings, size) {
  return withLoad(async (load) => {
    const opened = await load.rpc({
      cmd: 'echo',
      port: server.port,
      path: '/echo',
      connections: settings.echoConnections,
      size,
      tcp: !!spec.tcp,
    });
    if (opened.opened < settings.echoConnections)
      throw new Error(`only ${opened.opened} of ${settings.echoConnections} connections opened`);
    return window(server, load, { ...settings, warmup: settings.echoWarmup ?? settings.warmup });
  });
}

export async function handshakeRun(server, _spec, settings, mode) {
  return withLoad(async (load) => {
    const path = mode === 'http' ? '/http' : '/echo';
    await load.rpc({ cmd: 'handshakes', port: server.port, path, concurrency: settings.concurrency, mode });
    return window(server, load, { ...settings, warmup: settings.handshakeWarmup ?? settings.warmup });
  });
}

export async function memoryRun(server, spec, settings) {
  // Open and drop a few connections first, so that code compiled lazily for the first
  // handshake is in both snapshots rather than counted against the connections.
  await withLoad((load) =>
    load.rpc({ cmd: 'open', port: server.port, path: '/echo', connections: 200, tcp: !!spec.tcp }),
  );
  await sleep(300);
  const before = await server.rpc({ cmd: 'memory' });
  return withLoad(async (load) => {
    const { opened } = await load.rpc(
      { cmd: 'open', port: server.port, path: '/echo', connections: settings.idle, tcp: !!spec.tcp },
      120_000,
    );
    if (opened < settings.idle) throw new Error(`only ${opened} of ${settings.idle} idle connections opened`);
    await sleep(500);
    const after = await server.rpc({ cmd: 'memory' });
    return {
      heap: (after.heapUsed - before.heapUsed) / opened,
      rss: (after.rss - before.rss) / opened,
      external: (after.external - before.external) / opened,
    };
  });
}

export async function broadcastRun(server, spec, settings, subscribers) {
  return withLoad(async (load) => {
    const { opened } = await load.rpc(
      { cmd: 'open', port: server.port, path: '/sub', connections: subscribers, tcp: !!spec.tcp },
      120_000,
    );
    if (opened < subscribers) throw new Error(`only ${opened} of ${subscribers} subscribers connected`);
    const deadline = performance.now() + 10_000;
    while ((await server.rpc({ cmd: 'subscribers' })) < subscribers) {
      if (performance.now() > deadline) throw new Error('subscribers never all joined the topic');
      await sleep(20);
    }
    // One publish a round; the next round starts once the client has every byte, so nothing
    // queues up in the server and each round measures one whole fan-out.
    const frameBytes = subscribers * (PAYLOAD_BYTES + 4);
    const rounds = Math.max(8, Math.round(settings.deliveries / subscribers));
    let expected = (await load.rpc({ cmd: 'count' })).bytes;
    const round = async () => {
      expected += frameBytes;
      const arrived = load.rpc({ cmd: 'waitBytes', total: expected }, 30_000);
      const publishMs = await server.rpc({ cmd: 'publish', count: 1 });
      await arrived;
      return publishMs;
    };
    for (let i = 0; i < 3; i++) await round();
    await settings.profile?.start();
    const before = await snapshot(server, load);
    let publishMs = 0;
    for (let i = 0; i < rounds; i++) publishMs += await round();
    const after = await snapshot(server, load);
    await settings.profile?.stop();
    const deliveries = rounds * subscribers;
    return {
      rate: deliveries / ((after.at - before.at) / 1000),
      cpu: (after.cpu - before.cpu) / deliveries,
      // The synchronous fan-out inside publish(): what the publishing handler waits for.
      publish: (publishMs * 1000) / deliveries,
    };
  });
}

/** Runs `body` against a fresh server process; a failure is recorded, never fatal to the run. */
export async function onServer(spec, failures, label, body) {
  let server;
  try {
    server = await startServer(spec);
    await body(server);
  } catch (error) {
    failures.push(`${spec.id} ${label}: ${String(error.message).split('\n').slice(0, 3).join(' ')}`);
  } finally {
    await server?.stop();
  }
}
