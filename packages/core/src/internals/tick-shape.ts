/**
 * Keeps the hidden classes (V8 maps) of Node's tick objects alive for the life of the process.
 *
 * `process.nextTick` queues `{ [async_id_symbol], [trigger_async_id_symbol], callback, args }`,
 * an object literal with computed keys. V8 builds it from an empty map through a chain of
 * transitions, one map per property, and records in `nextTick`'s feedback the map each
 * property is added to. Only the last map of the chain ever has objects, and only while ticks
 * are queued. When V8 collects garbage, with no tick queued, four times in a row (an idle
 * server: start-up, the memory reducer, or a process that valgrind slows down), the chain dies
 * and the next tick builds a new one. V8 then marks three of the four property sites
 * megamorphic for good, and optimized code that inlines `nextTick` (the stream's
 * `maybeReadMore`, once per read) defines those three properties through the runtime: about
 * 3,800 instructions per 64 B echo, +17% (bench/RESULTS.md, h-echo2).
 *
 * One object of the same shape keeps the chain alive (a map keeps its parent alive), so the
 * feedback keeps its first maps. It is a copy, built once from the first tick after core
 * loads: the copy holds the tick's two ids, its callback (`copyTickShape`) and its `args`
 * (`undefined`), and none of the properties async hooks may add to the tick itself (an
 * AsyncLocalStorage store, say). Nothing is done when the tick does not have that shape (another
 * Node version): the copy would keep nothing useful alive.
 */
import { executionAsyncResource } from 'node:async_hooks';

let kept: object | undefined;

/** The object that keeps the tick objects' maps alive, once the first tick has run. */
export function tickShapeHolder(): object | undefined {
  return kept;
}

/** Schedules the copy; called once, when core loads. */
export function keepTickShape(): void {
  if (kept !== undefined) return;
  process.nextTick(copyTickShape);
}

function copyTickShape(): void {
  const tick = executionAsyncResource() as Record<PropertyKey, unknown>;
  const keys = Reflect.ownKeys(tick);
  if (tick.callback !== copyTickShape || keys[0] !== 'callback' || keys[1] !== 'args') return;
  // nextTick's own symbols, by name: an async hook may have added others to this tick since
  // (AsyncLocalStorage's store on Node 20), which the copy must not hold.
  const named = (name: string): symbol | undefined =>
    Object.getOwnPropertySymbols(tick).find((symbol) => symbol.description === name);
  const asyncId = named('async_id_symbol');
  const triggerId = named('trigger_async_id_symbol');
  const frame = named('kAsyncContextFrame');
  if (asyncId === undefined || triggerId === undefined) return;
  // The same literal shape as nextTick's, in the same order, with the tick's own values, so
  // that every field keeps the representation V8 gave it (and the literal has as many
  // properties, which picks the map the chain starts from).
  if (frame === undefined) {
    // Node 20: the two ids, then `callback` and `args`.
    kept = { [asyncId]: tick[asyncId], [triggerId]: tick[triggerId], callback: tick.callback, args: tick.args };
  } else {
    // Node 22 and 24: the two ids, the async context frame, then `callback` and `args`. (Node 26
    // builds the tick without per-property sites: nothing to keep there, and keeping it is harmless.)
    kept = {
      [asyncId]: tick[asyncId],
      [triggerId]: tick[triggerId],
      [frame]: tick[frame],
      callback: tick.callback,
      args: tick.args,
    };
  }
}
