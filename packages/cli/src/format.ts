/**
 * How things look on the console: colours, timestamps, message payloads and close codes. Pure
 * string functions; writing them out is `output.ts`'s job.
 */
import { CloseCode } from '@switchyard/core';

/** Colour functions; each returns its input untouched when colours are off. */
export interface Style {
  readonly bold: (text: string) => string;
  readonly dim: (text: string) => string;
  readonly red: (text: string) => string;
  readonly green: (text: string) => string;
  readonly yellow: (text: string) => string;
  readonly cyan: (text: string) => string;
  readonly magenta: (text: string) => string;
}

const ansi =
  (open: number, close: number) =>
  (text: string): string =>
    `\x1b[${open}m${text}\x1b[${close}m`;
const plain = (text: string): string => text;

/** Colours for a stream: on only for a terminal, and off whenever `NO_COLOR` is set (no-color.org). */
export function styleFor(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv = process.env): Style {
  const on = stream.isTTY === true && !env.NO_COLOR;
  if (!on) return { bold: plain, dim: plain, red: plain, green: plain, yellow: plain, cyan: plain, magenta: plain };
  return {
    bold: ansi(1, 22),
    dim: ansi(2, 22),
    red: ansi(31, 39),
    green: ansi(32, 39),
    yellow: ansi(33, 39),
    cyan: ansi(36, 39),
    magenta: ansi(35, 39),
  };
}

/** Local wall-clock time with milliseconds: `14:03:27.512`. */
export function timestamp(date = new Date()): string {
  const two = (n: number): string => String(n).padStart(2, '0');
  return `${two(date.getHours())}:${two(date.getMinutes())}:${two(date.getSeconds())}.${String(date.getMilliseconds()).padStart(3, '0')}`;
}

/**
 * Text from the network, made safe for a terminal. A server can send anything, and raw escape
 * sequences in a message could move the cursor, rewrite earlier lines or retitle the window of
 * the person debugging it; so control characters are shown as escapes. Tabs and newlines stay.
 */
export function printable(text: string): string {
  return text.replace(
    /[\x00-\x08\x0b-\x1f\x7f-\x9f]/g,
    (char) => `\\x${char.charCodeAt(0).toString(16).padStart(2, '0')}`,
  );
}

/** How many bytes of a binary message are shown before the rest is summarised. */
const HEX_SHOWN = 64;

/** Bytes as spaced hex, `de ad be ef`, cut after the first 64 bytes. */
export function hex(data: Buffer, limit = HEX_SHOWN): string {
  const shown = data
    .subarray(0, limit)
    .toString('hex')
    .replace(/(..)(?!$)/g, '$1 ');
  return data.length > limit ? `${shown} … (${data.length - limit} more bytes)` : shown;
}

/** `1 byte`, `5 bytes`. */
export function bytes(count: number): string {
  return count === 1 ? '1 byte' : `${count} bytes`;
}

/** A binary payload: `[binary, 4 bytes] de ad be ef`. */
export function describeBinary(data: Buffer): string {
  return `[binary, ${bytes(data.length)}]${data.length > 0 ? ` ${hex(data)}` : ''}`;
}

/** Codes of RFC 6455 §7.4.1 and the IANA registry that core has no name for. */
const EXTRA_CLOSE_NAMES: Record<number, string> = {
  1004: 'reserved',
  1010: 'mandatory extension',
  1012: 'service restart',
  1013: 'try again later',
  1014: 'bad gateway',
  1015: 'TLS handshake failed',
};

const CLOSE_NAMES: Record<number, string> = Object.fromEntries([
  // 4000-4999 belong to the application; switchyard's own (4000 idle, 4001 expired) say so.
  ...Object.entries(CloseCode).map(([name, code]) => [
    code,
    (code >= 4000 ? 'application-defined; switchyard: ' : '') + name.toLowerCase().replaceAll('_', ' '),
  ]),
  ...Object.entries(EXTRA_CLOSE_NAMES),
]);
CLOSE_NAMES[CloseCode.ABNORMAL] = 'abnormal: dropped without a close frame';
CLOSE_NAMES[CloseCode.NO_STATUS] = 'no status code in the close frame';

/** A close code with its meaning: `1000 normal`, `4001 application-defined`. */
export function describeCloseCode(code: number): string {
  const name =
    CLOSE_NAMES[code] ??
    (code >= 3000 && code <= 3999
      ? 'registered for libraries and frameworks'
      : code >= 4000 && code <= 4999
        ? 'application-defined'
        : 'not a valid close code');
  return `${code} (${name})`;
}

/** A close code and reason: `1000 (normal) "bye"`. */
export function describeClose(code: number, reason: string): string {
  return reason ? `${describeCloseCode(code)} ${JSON.stringify(reason)}` : describeCloseCode(code);
}

/** A duration for people: `0.42 ms`, `12 ms`, `3.1 s`. */
export function duration(ms: number): string {
  if (ms < 10) return `${ms.toFixed(2)} ms`;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  return `${(ms / 1000).toFixed(1)} s`;
}
