#!/usr/bin/env node
/**
 * Many idle connections in one server process, heartbeat on (issue 24): what each connection
 * costs (heap and RSS after GC), the latency of one broadcast to all of them (p50, p99, last),
 * and the handshake rate (and server CPU per handshake) while they are held. Raw `ws` with its
 * README heartbeat, switchyard on Express (default heartbeat: ping every 30 s), socket.io
 * (WebSocket transport, ping every 25 s), and switchyard's SSE fallback sessions. The held
 * connections answer every ping (WebSocket pongs, engine.io "3", POSTed SSE pongs).
 *
 *   node bench/idle.mjs [--connections=50000] [--sse=10000] [--rounds=5] [--backlog=4096]
 *                       [--hold=45] [--only=ws-heartbeat,switchyard-express,socket.io,sse]
 *                       [--write[=marker]]
 *
 * SSE sessions are held at least `--hold` seconds after the last one opened (default 45: the
 * default heartbeat's interval and timeout, and 5 s), so that every session has been pinged and
 * has answered (or been dropped) before "still held" is counted. `--write=after-sse-heartbeat`
 * writes the table to its own section of bench/RESULTS.md instead of replacing the first one.
 *
 * The run raises `ulimit -n` for itself and its children where the hard limit allows; where it
 * does not (a container without CAP_SYS_RESOURCE), the connections are capped to fit and the
 * table says so. Clients: raw `net` sockets in bench/load.mjs, up to 9,000 per process, over
 * many loopback source addresses (127.0.0.2 …).
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { snapshot, startLoad, startServer } from './drive.mjs';
import { fmt, listenCounters, machine, percentile, difference, withRaisedLimits, writeSection } from './scale-kit.mjs';

const limit = withRaisedLimits();
const args = Object.fromEntries(
  process.argv.slice(2).map((arg) => {
    const [key, value = ''] = arg.replace(/^--/, '').split('=');
    return [key, value];
  }),
);
// One descriptor per held connection in the server, and some for everything else.
const room = limit - 1500;
const WANTED = Number(args.connections || 50_000);
const CONNECTIONS = Math.min(WANTED, room);
const SSE = Math.min(Number(args.sse || 10_000), room);
const ROUNDS = Number(args.rounds || 5);
const PER_LOAD = 9000;
const HOLD = Number(args.hold || 45) * 1000;
process.env.BENCH_BACKLOG = args.backlog || '4096';

const ROWS = [
  { id: 'ws-heartbeat', name: 'raw ws + README heartbeat', server: 'ws-heartbeat', mode: 'ws', path: '/sub' },
  { id: 'switchyard-express', name: 'switchyard · Express', server: 'switchyard-express', mode: 'ws', path: '/sub' },
  { id: 'socket.io', name: 'socket.io', server: 'socket.io', mode: 'socket.io', path: '/sub', handshake: 'socket.io' },
  { id: 'sse', name: 'switchyard · Express, SSE sessions', server: 'switchyard-express', mode: 'sse', path: '/sub' },
].filter((row) => !args.only || args.only.split(',').includes(row.id));

async function measure(row) {
  const count = row.mode === 'sse' ? SSE : CONNECTIONS;
  const server = await startServer({ id: row.server });
  const loads = [];
  let sampler;
  try {
    // Compile the handshake path before the first snapshot (as drive.mjs's memoryRun does).
    const warm = await startLoad();
    await warm.rpc({ cmd: 'hold', port: server.port, path: row.path, connections: 200, mode: row.mode });
    await warm.rpc({ cmd: 'stop' });
    await warm.stop();
    await sleep(500);
    const before = await server.rpc({ cmd: 'memory' });
    const net0 = listenCounters();
    const opening = performance.now();
    for (let i = 0; i < Math.ceil(count / PER_LOAD); i++) loads.push(await startLoad());
    // SSE pongs are POSTs: their rate, sampled every second from the first opening on, shows
    // whether the heartbeat pings in bursts (its peak) or evenly.
    const pongRates = [];
    if (row.mode === 'sse') {
      const clients = loads.slice();
      let last = 0;
      let lastAt = performance.now();
      let busy = false;
      sampler = setInterval(async () => {
        if (busy) return;
        busy = true;
        try {
          const posts = (await Promise.all(clients.map((l) => l.rpc({ cmd: 'pongPosts' })))).reduce((a, b) => a + b, 0);
          const at = performance.now();
          pongRates.push((posts - last) / ((at - lastAt) / 1000));
          last = posts;
          lastAt = at;
        } finally {
          busy = false;
        }
      }, 1000);
    }
    const opened = await Promise.all(
      loads.map((load, i) =>
        load.rpc(
          {
            cmd: 'hold',
            port: server.port,
            path: row.path,
            connections: Math.min(PER_LOAD, count - i * PER_LOAD),
            mode: row.mode,
          },
          600_000,
        ),
      ),
    );
    const openedAt = performance.now();
    const openSeconds = (openedAt - opening) / 1000;
    const held = opened.reduce((n, o) => n + o.opened, 0);
    const deadline = performance.now() + 30_000;
    while ((await server.rpc({ cmd: 'subscribers' })) < held && performance.now() < deadline) await sleep(100);
    const subscribed = await server.rpc({ cmd: 'subscribers' });
    const overflows = difference(listenCounters(), net0);
    await sleep(1000);
    const after = await server.rpc({ cmd: 'memory' });

    // Broadcast rounds: the time from the publish command to each connection's copy.
    const latencies = [];
    for (let round = 0; round < ROUNDS + 1; round++) {
      await Promise.all(loads.map((load) => load.rpc({ cmd: 'arm' })));
      const sentAt = performance.timeOrigin + performance.now();
      await server.rpc({ cmd: 'publish', count: 1 });
      const arrivals = await Promise.all(
        loads.map((load, i) => load.rpc({ cmd: 'arrivals', count: opened[i].opened }, 120_000)),
      );
      // The first round is a warm-up.
      if (round > 0) for (const list of arrivals) for (const at of list) latencies.push(at - sentAt);
      await sleep(300);
    }
    latencies.sort((x, y) => x - y);

    // Handshakes while the connections are held: 50 at a time, open / one message / close.
    const shaker = await startLoad();
    loads.push(shaker);
    await shaker.rpc({
      cmd: 'handshakes',
      port: server.port,
      path: '/echo',
      concurrency: 50,
      mode: row.handshake ?? 'ws',
    });
    await sleep(2000);
    const h0 = await snapshot(server, shaker);
    await sleep(4000);
    const h1 = await snapshot(server, shaker);
    const handshakes = h1.done - h0.done;
    // Every SSE session pinged and answered (or dropped) at least once before counting. The
    // handshakes go on meanwhile, counted in 3 s windows: one window above can fall before,
    // inside or after a burst of pong POSTs, these cover the whole hold.
    const windows = [];
    if (row.mode === 'sse') {
      let previous = h1;
      while (performance.now() + 3000 <= openedAt + HOLD) {
        await sleep(3000);
        const next = await snapshot(server, shaker);
        windows.push((next.done - previous.done) / ((next.at - previous.at) / 1000));
        previous = next;
      }
      const left = openedAt + HOLD - performance.now();
      if (left > 0) await sleep(left);
    }
    windows.sort((x, y) => x - y);
    const heldSeconds = (performance.now() - openedAt) / 1000;
    clearInterval(sampler);
    const stillHeld = await server.rpc({ cmd: 'subscribers' });
    const pongPosts =
      row.mode === 'sse'
        ? (await Promise.all(loads.map((l) => l.rpc({ cmd: 'pongPosts' })))).reduce((a, b) => a + b, 0)
        : undefined;
    return {
      count,
      held,
      subscribed,
      stillHeld,
      openRate: held / openSeconds,
      heap: (after.heapUsed - before.heapUsed) / held,
      rss: (after.rss - before.rss) / held,
      rssTotal: after.rss,
      p50: percentile(latencies, 50),
      p99: percentile(latencies, 99),
      last: latencies.at(-1),
      samples: latencies.length,
      rate: handshakes / ((h1.at - h0.at) / 1000),
      cpu: handshakes > 0 ? (h1.cpu - h0.cpu) / handshakes : NaN,
      failedHandshakes: h1.failed - h0.failed,
      overflows,
      pongPosts,
      heldSeconds,
      openSeconds,
      pongPeak: pongRates.length > 0 ? Math.max(...pongRates) : undefined,
      windows,
      // Of the connections this run held. Not `subscribed - stillHeld`: an SSE session of the
      // warm-up outlives its closed stream by the fallback's sessionTimeout (30 s), so it is still
      // subscribed at the start and gone by the end without having been dropped.
      dropped: Math.max(0, held - stillHeld),
    };
  } finally {
    clearInterval(sampler);
    await Promise.all(
      loads.map(async (load) => {
        await load.rpc({ cmd: 'stop' }).catch(() => {});
        await load.stop();
      }),
    );
    await server.stop();
  }
}

const startedAt = new Date();
const atStart = machine();
const results = [];
for (const row of ROWS) {
  try {
    const r = await measure(row);
    results.push({ row, r });
    console.error(
      `${row.name}: ${r.held} held (${fmt(r.openRate)}/s to open)${r.pongPosts === undefined ? '' : `, ${r.pongPosts} pong POSTs in ${fmt(r.openSeconds + r.heldSeconds)} s (peak ${fmt(r.pongPeak)}/s)`}, heap ${fmt(r.heap / 1024, 1)} KiB, RSS ${fmt(r.rss / 1024, 1)} KiB per connection, broadcast p50 ${fmt(r.p50, 1)} p99 ${fmt(r.p99, 1)} ms, ${fmt(r.rate)} handshakes/s (${fmt(r.cpu)} µs), ${r.stillHeld} still held, overflows ${r.overflows.ListenOverflows}`,
    );
  } catch (error) {
    results.push({ row, error: String(error.message ?? error).split('\n')[0] });
    console.error(`${row.name}: ${error.stack ?? error}`);
  }
}

const capped = CONNECTIONS < WANTED;
const lines = [
  `${fmt(CONNECTIONS)} WebSocket connections${capped ? ` (${fmt(WANTED)} asked for: this machine's hard \`ulimit -n\` is ${fmt(limit)} and cannot be raised without CAP_SYS_RESOURCE, so one process holds at most that many sockets)` : ''} and ${fmt(SSE)} SSE sessions, each set in one server process, heartbeat on, listen backlog ${process.env.BENCH_BACKLOG}. Broadcast: ${ROUNDS} rounds of one 1 KiB publish to every connection, latency from the publish command to each connection's copy (all rounds pooled). Handshakes: 50 at a time, open / one message / close, against the same process while the connections are held, 4 s after 2 s of warm-up. Machine at the start: ${atStart}. At the end: ${machine()}.`,
  '',
  '| server | held | opened per s | heap per conn (KiB) | RSS per conn (KiB) | RSS total (MiB) | broadcast p50 ms | p99 ms | last ms | handshakes/s while held | server µs per handshake | failed | ListenOverflows while opening |',
  '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
];
for (const { row, r, error } of results) {
  if (error) {
    lines.push(`| ${row.name} | failed: ${error} |`);
    continue;
  }
  lines.push(
    `| ${row.name} | ${fmt(r.held)}${r.dropped > 0 ? ` (${fmt(r.dropped)} dropped by the end)` : ''} | ${fmt(r.openRate)} | ${fmt(r.heap / 1024, 2)} | ${fmt(r.rss / 1024, 2)} | ${fmt(r.rssTotal / 2 ** 20)} | ${fmt(r.p50, 1)} | ${fmt(r.p99, 1)} | ${fmt(r.last, 1)} | ${fmt(r.rate)} | ${fmt(r.cpu)} | ${fmt(r.failedHandshakes)} | ${fmt(r.overflows.ListenOverflows)} |`,
  );
}
for (const { row, r } of results) {
  if (r?.pongPosts === undefined) continue;
  lines.push(
    '',
    `${row.name}: opened in ${fmt(r.openSeconds)} s and held ${fmt(r.heldSeconds)} s more; ${fmt(r.pongPosts)} pong POSTs in that time (${fmt(r.pongPosts / (r.openSeconds + r.heldSeconds))}/s on average, ${fmt(r.pongPeak)}/s in the busiest second; one new connection each), ${fmt(r.dropped)} of ${fmt(r.held)} sessions dropped by the end. Handshakes/s in ${r.windows.length} windows of 3 s over the rest of the hold: lowest ${fmt(r.windows[0])}, median ${fmt(percentile(r.windows, 50))}, highest ${fmt(r.windows.at(-1))}.`,
  );
}
const table = lines.join('\n');
console.log(table);
if ('write' in args) {
  await writeSection(
    args.write ? `<!-- bench/idle.mjs ${args.write} -->` : '<!-- bench/idle.mjs -->',
    `## Idle connections in one process, heartbeat on (issue 24): \`node bench/idle.mjs${process.argv
      .slice(2)
      .filter((a) => !a.startsWith('--write'))
      .map((a) => ` ${a}`)
      .join('')}\`\n\nRun at ${startedAt.toISOString().slice(0, 16).replace('T', ' ')} UTC.\n\n${table}\n`,
  );
}
process.exit(0);
