/**
 * What every benchmark server shares: it listens on 127.0.0.1 at a free port, tells the runner
 * which one over IPC, and answers the runner's questions. Only the runner's own requests run
 * here, never per message, so a server program's cost is the framework and the WebSocket code.
 *
 * A server program passes:
 *   server       the http.Server or net.Server to listen with (or `listen`, for Fastify)
 *   publish      sends one message to every subscriber of the broadcast topic
 *   subscribers  how many connections are subscribed right now
 */
import { PerformanceObserver, performance, constants as perfConstants } from 'node:perf_hooks';
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { getHeapSpaceStatistics, getHeapStatistics, writeHeapSnapshot } from 'node:v8';

// BENCH_BALLAST_KB: that many kilobytes of small objects kept for the life of the process, so
// that every server starts with an application-sized heap (bench/README.md, "The 16 KiB echo
// rows"); 32 bytes each, an object with two fields.
if (process.env.BENCH_BALLAST_KB) {
  const count = Math.round((Number(process.env.BENCH_BALLAST_KB) * 1024) / 32);
  globalThis.benchBallast = Array.from({ length: count }, (_, i) => ({ i, next: null }));
}

/** The topic every broadcast subscriber joins. */
export const TOPIC = 'bench';

/** What a broadcast publishes: 1 KiB of JSON text, the shape chat and dashboards send. */
export const PAYLOAD = (() => {
  const head = '{"type":"tick","room":"bench","data":"';
  return `${head}${'x'.repeat(1024 - head.length - 2)}"}`;
})();

export async function serve({ server, listen, publish, subscribers }) {
  const port = listen
    ? await listen()
    : await new Promise((resolve) =>
        // BENCH_BACKLOG sets the listen backlog (Node's default is 511; the kernel caps it at
        // net.core.somaxconn).
        server.listen({ port: 0, host: '127.0.0.1', backlog: Number(process.env.BENCH_BACKLOG) || undefined }, () =>
          resolve(server.address().port),
        ),
      );
  process.on('message', (message) => {
    Promise.resolve()
      .then(() => answer(message, publish, subscribers))
      .then(
        (result) => process.send({ id: message.id, result }),
        (error) => process.send({ id: message.id, error: String(error?.stack ?? error) }),
      );
  });
  // The runner going away ends the server, whatever state the benchmark left it in.
  process.on('disconnect', () => process.exit(0));
  process.send({ type: 'ready', port });
}

function answer({ cmd, count, path }, publish, subscribers) {
  switch (cmd) {
    case 'cpu': {
      const { user, system } = process.cpuUsage();
      return { cpu: user + system, user, system, at: performance.now() };
    }
    case 'memory':
      return settledMemory();
    case 'subscribers':
      return subscribers();
    case 'publish': {
      const started = performance.now();
      for (let i = 0; i < count; i++) publish(PAYLOAD);
      return performance.now() - started;
    }
    case 'heap':
      return heapNow();
    case 'gcStart':
      return gcCounter.start();
    case 'gcStop':
      return gcCounter.stop();
    case 'heapSnapshot':
      return settledMemory().then(() => writeHeapSnapshot(path));
    case 'profileStart':
      return profiler.start();
    case 'profileStop':
      return profiler.stop(path);
    default:
      throw new Error(`unknown command ${cmd}`);
  }
}

/** Memory after full collections, with turns of the event loop between them for finalizers. */
async function settledMemory() {
  for (let i = 0; i < 4; i++) {
    globalThis.gc();
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const { heapUsed, rss, external, arrayBuffers } = process.memoryUsage();
  return { heapUsed, rss, external, arrayBuffers };
}

/** V8's heap as it is now, without collecting first: the sizes the GC heuristics see. */
function heapNow() {
  const spaces = Object.fromEntries(
    getHeapSpaceStatistics().map((space) => [
      space.space_name,
      { size: space.space_size, used: space.space_used_size },
    ]),
  );
  const { external } = process.memoryUsage();
  return { ...getHeapStatistics(), external, spaces };
}

/** Counts V8's collections by kind between gcStart and gcStop (bench/gc.mjs). */
const gcCounter = {
  observer: undefined,
  counts: undefined,
  start() {
    this.counts = { minor: 0, major: 0, incremental: 0, weakcb: 0, ms: 0 };
    const kinds = {
      [perfConstants.NODE_PERFORMANCE_GC_MINOR]: 'minor',
      [perfConstants.NODE_PERFORMANCE_GC_MAJOR]: 'major',
      [perfConstants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
      [perfConstants.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb',
    };
    this.observer = new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) {
        const kind = kinds[entry.detail?.kind ?? entry.kind] ?? 'other';
        this.counts[kind] = (this.counts[kind] ?? 0) + 1;
        this.counts.ms += entry.duration;
      }
    });
    this.observer.observe({ entryTypes: ['gc'] });
    return true;
  },
  stop() {
    this.observer?.disconnect();
    this.observer = undefined;
    return this.counts;
  },
};

/** A CPU profile of exactly the measured window (bench/profile.mjs), not of start-up. */
const profiler = {
  session: undefined,
  post(method, params = {}) {
    return new Promise((resolve, reject) => {
      this.session.post(method, params, (error, result) => (error ? reject(error) : resolve(result)));
    });
  },
  async start() {
    this.session = new Session();
    this.session.connect();
    await this.post('Profiler.enable');
    await this.post('Profiler.setSamplingInterval', { interval: 100 });
    await this.post('Profiler.start');
    return true;
  },
  async stop(path) {
    const { profile } = await this.post('Profiler.stop');
    this.session.disconnect();
    writeFileSync(path, JSON.stringify(profile));
    return path;
  },
};
