/**
 * Command-line values: `node:util.parseArgs` with its errors turned into usage errors, and the
 * parsers for the flag values both commands share (numbers, sizes, headers, subprotocols).
 */
import { validateHeaderName, validateHeaderValue } from 'node:http';
import { parseArgs } from 'node:util';
import type { ParseArgsConfig } from 'node:util';
import { parseProtocols } from '@switchyard/core';

/** A mistake on the command line: printed with a pointer to `--help`, exit status 2. */
export class UsageError extends Error {
  /** Stable machine-readable code. */
  readonly code = 'SWITCHYARD_ERR_USAGE';

  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** `parseArgs` in strict mode, where an unknown flag or a missing value is a {@link UsageError}. */
export function parseCommandLine<const T extends ParseArgsConfig>(config: T): ReturnType<typeof parseArgs<T>> {
  try {
    return parseArgs<T>({ strict: true, ...config });
  } catch (error) {
    if (error instanceof TypeError && 'code' in error && String(error.code).startsWith('ERR_PARSE_ARGS_')) {
      throw new UsageError(error.message);
    }
    throw error;
  }
}

/** A whole number within `min..max`, e.g. a port. */
export function parseInteger(flag: string, value: string, min: number, max: number): number {
  const number = /^\d+$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(number) || number < min || number > max) {
    throw new UsageError(`${flag} must be a whole number from ${min} to ${max}, got ${JSON.stringify(value)}`);
  }
  return number;
}

const SIZE_UNITS: Record<string, number> = { '': 1, b: 1, k: 1024, kb: 1024, m: 1024 ** 2, mb: 1024 ** 2 };

/** A size in bytes: `65536`, `64k` or `1m` (binary units). */
export function parseSize(flag: string, value: string): number {
  const match = /^(\d+)\s*([a-z]*)$/i.exec(value.trim());
  const unit = match ? SIZE_UNITS[match[2]!.toLowerCase()] : undefined;
  const bytes = match && unit ? Number(match[1]) * unit : NaN;
  if (!Number.isSafeInteger(bytes) || bytes < 1) {
    throw new UsageError(`${flag} must be a size in bytes such as 65536, 64k or 1m, got ${JSON.stringify(value)}`);
  }
  return bytes;
}

/** A positive duration in seconds, fractions allowed. Returns milliseconds. */
export function parseSeconds(flag: string, value: string): number {
  const seconds = /^\d+(\.\d+)?$|^\.\d+$/.test(value.trim()) ? Number(value) : NaN;
  if (!(seconds > 0) || !Number.isFinite(seconds)) {
    throw new UsageError(`${flag} must be a positive number of seconds, got ${JSON.stringify(value)}`);
  }
  return Math.round(seconds * 1000);
}

/**
 * Subprotocols from repeated `--protocol` flags; each may also hold a comma-separated list.
 * Validated by core's own header parser, so the CLI refuses exactly what a server would.
 */
export function parseProtocolFlags(values: readonly string[] | undefined): string[] {
  if (!values || values.length === 0) return [];
  try {
    return parseProtocols(values.join(', '));
  } catch (error) {
    throw new UsageError(`--protocol: ${(error as Error).message} in ${JSON.stringify(values.join(', '))}`);
  }
}

/** Headers the WebSocket client computes itself; setting them by hand would break the handshake. */
const MANAGED_HEADERS = new Map([
  ['sec-websocket-key', 'the client generates it'],
  ['sec-websocket-version', 'the client always speaks version 13'],
  ['sec-websocket-protocol', 'use --protocol'],
  ['sec-websocket-extensions', 'use --compression'],
  ['connection', 'the handshake needs "Connection: Upgrade"'],
  ['upgrade', 'the handshake needs "Upgrade: websocket"'],
]);

/** One `-H 'Name: value'` flag, checked the way Node will check it when sending. */
export function parseHeader(value: string): [name: string, value: string] {
  const colon = value.indexOf(':');
  if (colon <= 0) throw new UsageError(`-H expects "Name: value", got ${JSON.stringify(value)}`);
  const name = value.slice(0, colon).trim();
  const headerValue = value.slice(colon + 1).trim();
  const managed = MANAGED_HEADERS.get(name.toLowerCase());
  if (managed) throw new UsageError(`-H cannot set ${name}: ${managed}`);
  try {
    validateHeaderName(name);
    validateHeaderValue(name, headerValue);
  } catch (error) {
    throw new UsageError(`-H ${JSON.stringify(value)}: ${(error as Error).message}`);
  }
  return [name, headerValue];
}

/** Every `-H` flag, with repeated names kept as several header lines, in order. */
export function parseHeaders(values: readonly string[] | undefined): Record<string, string | string[]> {
  const headers: Record<string, string | string[]> = {};
  const nameOf = new Map<string, string>();
  for (const value of values ?? []) {
    const [name, headerValue] = parseHeader(value);
    const existing = nameOf.get(name.toLowerCase());
    if (existing === undefined) {
      nameOf.set(name.toLowerCase(), name);
      headers[name] = headerValue;
    } else {
      const previous = headers[existing]!;
      headers[existing] = [...(Array.isArray(previous) ? previous : [previous]), headerValue];
    }
  }
  return headers;
}
