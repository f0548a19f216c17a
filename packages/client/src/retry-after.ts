/**
 * `Retry-After` (RFC 9110 §10.2.3) on an answer that refused an attempt: how long the server asks
 * the client to stay away. A switchyard endpoint sends it with 503 (shutting down, its connection
 * cap, a resume while its session store is down) and 429 (a per-address cap or rate).
 */

/**
 * The longest wait honoured (ms). A larger value (a misconfigured proxy, a date far ahead) is cut
 * to this: the client asks again then, and the server can answer again.
 */
export const MAX_RETRY_AFTER = 60_000;

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const MONTH = `(${MONTHS.join('|')})`;
const TIME = '(\\d{2}):(\\d{2}):(\\d{2})';
/** IMF-fixdate, the one senders use: `Sun, 06 Nov 1994 08:49:37 GMT`. */
const IMF_FIXDATE = new RegExp(`^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), (\\d{2}) ${MONTH} (\\d{4}) ${TIME} GMT$`);
/** The obsolete forms a recipient must still read: RFC 850 `Sunday, 06-Nov-94 08:49:37 GMT`... */
const RFC_850 = new RegExp(
  `^(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday), (\\d{2})-${MONTH}-(\\d{2}) ${TIME} GMT$`,
);
/** ...and asctime, `Sun Nov  6 08:49:37 1994`. */
const ASCTIME = new RegExp(`^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) ${MONTH} ( \\d|\\d{2}) ${TIME} (\\d{4})$`);

/** Milliseconds since the epoch of an HTTP-date, or NaN when it is not one (or names no real day). */
function parseHttpDate(text: string, now: number): number {
  let year: number;
  let month: string;
  let day: string;
  let clock: string[];
  let match = IMF_FIXDATE.exec(text);
  if (match) {
    [, day = '', month = '', , ...clock] = match;
    year = Number(match[3]);
  } else if ((match = RFC_850.exec(text))) {
    [, day = '', month = '', , ...clock] = match;
    // RFC 9110 §5.6.7: a two-digit year that looks more than 50 years ahead is in the past century.
    const thisYear = new Date(now).getUTCFullYear();
    year = Math.floor(thisYear / 100) * 100 + Number(match[3]);
    if (year > thisYear + 50) year -= 100;
  } else if ((match = ASCTIME.exec(text))) {
    [, month = '', day = '', ...clock] = match;
    year = Number(clock.pop());
  } else {
    return Number.NaN;
  }
  const [hours, minutes, seconds] = clock.map(Number) as [number, number, number];
  const monthIndex = MONTHS.indexOf(month);
  const at = Date.UTC(year, monthIndex, Number(day), hours, minutes, seconds);
  const date = new Date(at);
  // Date.UTC rolls 31 Feb over into March, and 25:00 into the next day: not a date.
  const real =
    date.getUTCDate() === Number(day) &&
    date.getUTCMonth() === monthIndex &&
    hours < 24 &&
    minutes < 60 &&
    seconds < 61;
  return real ? at : Number.NaN;
}

/**
 * The wait a `Retry-After` value asks for, in ms from `now`, at most {@link MAX_RETRY_AFTER}: a
 * number of seconds or an HTTP-date (a date in the past asks for no wait). Undefined when the
 * header is absent or malformed, so that the client keeps to its own backoff.
 */
export function parseRetryAfter(header: string | null | undefined, now: number = Date.now()): number | undefined {
  if (header === null || header === undefined) return undefined;
  const value = header.trim();
  if (/^\d+$/.test(value)) return Math.min(Number(value) * 1000, MAX_RETRY_AFTER);
  const at = parseHttpDate(value, now);
  return Number.isNaN(at) ? undefined : Math.min(Math.max(0, at - now), MAX_RETRY_AFTER);
}

/** The wait an HTTP answer asks for: its `Retry-After` on a 503 or a 429, else undefined. */
export function retryAfterOf(
  status: number,
  header: string | null | undefined,
  now: number = Date.now(),
): number | undefined {
  return status === 503 || status === 429 ? parseRetryAfter(header, now) : undefined;
}
