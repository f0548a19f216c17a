/**
 * The recorded ratios of a benchmark run (bench/baseline.json) and the check of a new run
 * against them: `node bench/run.mjs --compare` exits non-zero when a server's ratio to raw ws
 * grew by more than the tolerance (10%) on any metric both runs measured.
 *
 * Only ratios to raw ws measured in the same run are kept and compared, never µs: on a shared
 * machine the absolute figures move with the load, while a ratio of servers measured in
 * interleaved rounds does not (bench/README.md).
 */
import { readFileSync, writeFileSync } from 'node:fs';

/** A regression is a ratio that grew by more than this fraction. */
export const TOLERANCE = 0.1;

/** The metrics kept, each as server CPU (or heap) over raw ws's; lower is better for all. */
export const RATIO_METRICS = [
  { key: 'echo64.cpu', label: 'echo 64 B CPU/msg' },
  { key: 'echo16384.cpu', label: 'echo 16 KiB CPU/msg' },
  { key: 'handshake.cpu', label: 'handshake CPU' },
  { key: 'http.cpu', label: 'GET CPU' },
  { key: 'memory.heap', label: 'heap / idle conn' },
  { key: 'broadcast1000.cpu', label: 'broadcast 1k CPU/delivery' },
  { key: 'broadcast10000.cpu', label: 'broadcast 10k CPU/delivery' },
];

/** `{ metric: { server: ratio } }` of one run; `get(metric, server)` gives its median. */
export function ratiosOf(get, servers) {
  const ratios = {};
  for (const { key } of RATIO_METRICS) {
    const base = get(key, 'ws');
    if (!Number.isFinite(base) || base <= 0) continue;
    for (const server of servers) {
      if (server.id === 'ws') continue;
      const value = get(key, server.id);
      if (!Number.isFinite(value)) continue;
      ratios[key] ??= {};
      ratios[key][server.id] = Number((value / base).toFixed(4));
    }
  }
  return ratios;
}

export function readBaseline(file) {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    if (error.code === 'ENOENT') return undefined;
    throw new Error(`bench: cannot read ${file}: ${error.message}`);
  }
}

/**
 * Writes this run's ratios; ratios of servers and metrics this run did not measure stay as they
 * were, so a partial run (--only, --metrics) updates its own rows only.
 */
export function writeBaseline(file, ratios, meta) {
  const old = readBaseline(file);
  const merged = structuredClone(old?.ratios ?? {});
  for (const [metric, servers] of Object.entries(ratios)) Object.assign((merged[metric] ??= {}), servers);
  const record = {
    note: 'Ratios of server CPU (heap for memory) to raw ws in one interleaved run; written by `pnpm bench` and `node bench/run.mjs --record`, read by `--compare`.',
    date: meta.date,
    source: meta.source,
    node: meta.node,
    machine: `${meta.cpu}, ${meta.cores} cores`,
    // A run on a machine busy with other work records ratios of little worth: --compare says so.
    load: { start: Number(meta.loadStart), end: Number(meta.loadEnd), cores: meta.cores },
    ratios: merged,
  };
  writeFileSync(file, `${JSON.stringify(record, null, 2)}\n`);
}

/**
 * Compares this run's ratios with the baseline's. Returns the report's lines and whether
 * any ratio grew by more than TOLERANCE.
 */
export function compare(baseline, ratios, names, meta) {
  const rows = [];
  let regressed = false;
  for (const { key, label } of RATIO_METRICS) {
    for (const [server, now] of Object.entries(ratios[key] ?? {})) {
      const then = baseline.ratios?.[key]?.[server];
      if (then === undefined) continue;
      const change = now / then - 1;
      const bad = change > TOLERANCE;
      regressed ||= bad;
      rows.push([
        names.get(server) ?? server,
        label,
        `${then.toFixed(2)}×`,
        `${now.toFixed(2)}×`,
        `${change >= 0 ? '+' : '−'}${Math.abs(change * 100).toFixed(1)}%`,
        bad ? '**REGRESSED**' : change < -TOLERANCE ? 'better' : 'ok',
      ]);
    }
  }
  const lines = [
    `## Against the baseline (${baseline.date}, ${baseline.source})`,
    '',
    `Each ratio is a server's CPU (heap for memory) over raw ws's in its own run; a ratio more than ${TOLERANCE * 100}% above the baseline's is a regression.`,
    '',
    '| server | metric | baseline × ws | now × ws | change | verdict |',
    '|---|---|---:|---:|---:|---|',
    ...rows.map((row) => `| ${row.join(' | ')} |`),
  ];
  if (rows.length === 0) lines.push('', 'No metric of this run is in the baseline.');
  const busy = (load) => load && Math.max(load.start, load.end) > load.cores;
  if (busy(baseline.load))
    lines.push(
      '',
      `The baseline ran with a load average of ${baseline.load.start}–${baseline.load.end} on ${baseline.load.cores} cores: its ratios are unreliable; record a new one on a quieter machine.`,
    );
  const now = meta && { start: Number(meta.loadStart), end: Number(meta.loadEnd), cores: meta.cores };
  if (busy(now))
    lines.push(
      '',
      `This run had a load average of ${now.start}–${now.end} on ${now.cores} cores: other work shared the cores, so rerun before trusting a verdict.`,
    );
  return { text: lines.join('\n'), regressed, compared: rows.length };
}
