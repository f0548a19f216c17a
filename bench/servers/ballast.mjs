/**
 * Another server program of this folder with more heap at start-up and nothing else different,
 * for `bench/gc.mjs` (bench/README.md, "The 16 KiB echo rows"): BENCH_BALLAST_SERVER names the
 * program (default koa-easy-ws). The harness keeps BENCH_BALLAST_KB kilobytes of small objects
 * (here 700 unless set: about what importing @switchyard/core adds); with BENCH_BALLAST_IMPORT,
 * that module is imported and never used instead.
 */
if (process.env.BENCH_BALLAST_IMPORT) await import(process.env.BENCH_BALLAST_IMPORT);
else process.env.BENCH_BALLAST_KB ??= '700';
await import(`./${process.env.BENCH_BALLAST_SERVER ?? 'koa-easy-ws'}.mjs`);
