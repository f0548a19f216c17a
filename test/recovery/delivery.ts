/**
 * The recovery promise as a check: what one subscriber of one topic received, against what was
 * acknowledged. Every acknowledged publish arrives exactly once and in order, or an
 * `unrecoverable` event for the topic covers the gap (it came after the last message before it).
 */

/** What a subscriber saw, in order: a message (its number) or an `unrecoverable` event (its reason). */
export type Seen = { message: number } | { unrecoverable: string };

/** The ways `seen` breaks the promise; empty when it holds. */
export function deliveryViolations(seen: readonly Seen[], acknowledged: Iterable<number>): string[] {
  const violations: string[] = [];
  const received = new Map<number, number>();
  let previous = -Infinity;
  seen.forEach((item, index) => {
    if (!('message' in item)) return;
    const n = item.message;
    if (received.has(n)) violations.push(`${n} arrived twice`);
    else if (n <= previous) violations.push(`${n} arrived after ${previous}`);
    received.set(n, index);
    previous = Math.max(previous, n);
  });
  const events = seen.flatMap((item, index) => ('unrecoverable' in item ? [index] : []));
  const lost: number[] = [];
  for (const n of acknowledged) {
    if (received.has(n)) continue;
    // The last message before the gap: an event after it tells the subscriber about the gap.
    let before = -1;
    for (const [m, index] of received) if (m < n && index > before) before = index;
    if (!events.some((index) => index > before)) lost.push(n);
  }
  if (lost.length > 0)
    violations.push(`${lost.length} acknowledged lost without an event (first ${lost.slice(0, 5).join(', ')})`);
  return violations;
}

/** How many acknowledged publishes `seen` lacks (told or not). */
export function missing(seen: readonly Seen[], acknowledged: Iterable<number>): number {
  const received = new Set(seen.flatMap((item) => ('message' in item ? [item.message] : [])));
  let count = 0;
  for (const n of acknowledged) if (!received.has(n)) count++;
  return count;
}
