/**
 * Another server program of this folder with more heap at start-up and nothing else different,
 * for `bench/gc.mjs` (bench/README.md, "The 16 KiB echo rows"): BENCH_BALLAST_SERVER names the
 * program (default koa-easy-ws); BENCH_BALLAST_KB kilobytes of small objects are kept for the
 * life of the process (default 700, about what importing @switchyard/core adds), or, with
 * BENCH_BALLAST_IMPORT, that module is imported and never used.
 */
if (process.env.BENCH_BALLAST_IMPORT) {
  await import(process.env.BENCH_BALLAST_IMPORT);
} else {
  const kilobytes = Number(process.env.BENCH_BALLAST_KB ?? 700);
  // 32 bytes each: an object with two fields.
  globalThis.benchBallast = Array.from({ length: Math.round((kilobytes * 1024) / 32) }, (_, i) => ({ i, next: null }));
}
await import(`./${process.env.BENCH_BALLAST_SERVER ?? 'koa-easy-ws'}.mjs`);
