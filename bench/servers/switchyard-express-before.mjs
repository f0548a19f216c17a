/**
 * switchyard · Express as another checkout built it: switchyard-express.mjs itself, loading
 * Express and @switchyard/express from `$BENCH_BEFORE` (a clone at an earlier commit, installed
 * and built), so that one interleaved run compares a change with what it replaced:
 *
 *   git clone . /tmp/before && git -C /tmp/before checkout <commit> && (cd /tmp/before && npx -y pnpm@10 install)
 *   BENCH_BEFORE=/tmp/before node bench/run.mjs --only=switchyard-express,switchyard-express-before
 */
if (!process.env.BENCH_BEFORE) throw new Error('BENCH_BEFORE names the checkout to compare with');
process.env.BENCH_EXPRESS_FROM = process.env.BENCH_BEFORE;
await import('./switchyard-express.mjs');
