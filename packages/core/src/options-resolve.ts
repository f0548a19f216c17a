/**
 * Option resolution: checks what `websocket({...})` was given (unknown names and wrong types
 * are a TypeError with SWITCHYARD_ERR_INVALID_OPTION, never silently ignored) and applies the
 * defaults, giving the ResolvedOptions an endpoint runs on.
 */
import { ErrorCode, withCode } from './errors.js';
import type { Rate } from './limits.js';
import type { StandardSchemaV1 } from './schema.js';
import { isStandardSchema } from './schema.js';
import { resolveRecovery } from './recovery/index.js';
import { DEFAULT_MAX_PENDING_HANDSHAKES } from './shedding.js';
import type { ControlRateOptions, EndpointOptions, Handlers, ResolvedOptions, SchemaOptions } from './options-types.js';
import {
  COMPRESSION_NAMES,
  DEFAULT_CLOSE_TIMEOUT,
  CONTROL_RATE_DEFAULTS,
  DEFAULT_KEPT_HEADERS,
  DEFAULT_MAX_DEPTH,
  DEFAULT_MAX_BUFFERED_AMOUNT,
  FALLBACK_NAMES,
  HEARTBEAT_DEFAULTS,
  HOOK_NAMES,
  OPTION_NAMES,
} from './options-defaults.js';

/** setTimeout's largest delay (2^31 - 1 ms, about 24.8 days). */
const MAX_TIMER_DELAY = 2_147_483_647;

function rateOf(
  option: string,
  countName: string,
  count: number | undefined,
  per: number | undefined,
  burstName: string,
  burst: number | undefined,
): Rate | undefined {
  if (count === undefined) return undefined;
  const rate = positive(`${option}.${countName}`, count, 1);
  return {
    count: rate,
    per: positive(`${option}.per`, per, 1000),
    burst: positive(`${option}.${burstName}`, burst, rate),
  };
}

function positive(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !(value > 0)) {
    throw invalidOption(`websocket(): option "${name}" must be a positive number, got ${String(value)}`);
  }
  return value;
}

/** A positive number of ms that a timer can wait: Node fires a longer delay at once. */
function timerDelay(name: string, value: unknown, fallback: number): number {
  const ms = positive(name, value, fallback);
  if (ms > MAX_TIMER_DELAY) {
    throw invalidOption(`websocket(): option "${name}" must be at most ${MAX_TIMER_DELAY} ms, got ${String(value)}`);
  }
  return ms;
}

/** Validates options and hooks; unknown names are a `TypeError`, not silently ignored. */
export function resolveOptions(handlers: Handlers<unknown>, defaults: EndpointOptions = {}): ResolvedOptions {
  if (handlers === null || typeof handlers !== 'object') {
    throw invalidOption('websocket(): expected a handlers object or a connection function');
  }
  for (const source of [defaults, handlers]) {
    for (const name of Object.keys(source)) {
      if (!OPTION_NAMES.has(name)) throw invalidOption(`websocket(): unknown option "${name}"`);
    }
  }
  for (const name of HOOK_NAMES) {
    const hook = handlers[name];
    if (hook !== undefined && typeof hook !== 'function') {
      throw invalidOption(`websocket(): "${name}" must be a function`);
    }
  }
  const merged: EndpointOptions & SchemaOptions<unknown, unknown> = { ...defaults, ...handlers };
  for (const name of ['schema', 'outgoing'] as const) {
    if (merged[name] !== undefined && !isStandardSchema(merged[name])) {
      throw invalidOption(
        `websocket(): option "${name}" must be a Standard Schema validator (zod, valibot, arktype...)`,
      );
    }
  }
  if (merged.stats !== undefined && typeof merged.stats !== 'boolean') {
    throw invalidOption('websocket(): option "stats" must be a boolean');
  }
  const { protocols, origins, compression, heartbeat } = merged;
  if (
    protocols !== undefined &&
    typeof protocols !== 'function' &&
    !(Array.isArray(protocols) && protocols.every((p) => typeof p === 'string' && p.length > 0))
  ) {
    throw invalidOption('websocket(): option "protocols" must be an array of non-empty strings or a function');
  }
  if (origins !== undefined && typeof origins !== 'function' && !Array.isArray(origins)) {
    throw invalidOption('websocket(): option "origins" must be an array of origins or a function');
  }
  if (
    compression !== undefined &&
    typeof compression !== 'boolean' &&
    (compression === null || typeof compression !== 'object')
  ) {
    throw invalidOption('websocket(): option "compression" must be a boolean or an options object');
  }
  if (
    merged.hub !== undefined &&
    (merged.hub === null || typeof merged.hub !== 'object' || typeof merged.hub.publish !== 'function')
  ) {
    throw invalidOption('websocket(): option "hub" must be a hub from createHub() or a distributed hub');
  }
  if (
    merged.fallback !== undefined &&
    merged.fallback !== false &&
    (merged.fallback === null || typeof merged.fallback !== 'object')
  ) {
    throw invalidOption(
      'websocket(): option "fallback" must be false or { sessionTimeout, heartbeat, retry, replay, replayBytes, owner }',
    );
  }
  if (merged.fallback) {
    knownNames('fallback', merged.fallback, FALLBACK_NAMES);
    if (merged.fallback.owner !== undefined && typeof merged.fallback.owner !== 'function') {
      throw invalidOption('websocket(): "fallback.owner" must be a function');
    }
  }
  const { keepHeaders } = merged;
  if (
    keepHeaders !== undefined &&
    keepHeaders !== true &&
    !(Array.isArray(keepHeaders) && keepHeaders.every((h) => typeof h === 'string' && h.length > 0))
  ) {
    throw invalidOption('websocket(): option "keepHeaders" must be true or an array of header names');
  }
  if (heartbeat !== undefined && heartbeat !== false && (heartbeat === null || typeof heartbeat !== 'object')) {
    throw invalidOption('websocket(): option "heartbeat" must be false or { interval, timeout }');
  }
  // A misspelt nested name (heartbeat.intervall) would otherwise leave its default in force
  // unseen; a plugin's defaults are checked too, though a route's own group replaces them.
  for (const source of [defaults, handlers]) {
    if (source.heartbeat) knownNames('heartbeat', source.heartbeat, HEARTBEAT_DEFAULTS);
    if (source.fallback) knownNames('fallback', source.fallback, FALLBACK_NAMES);
    if (typeof source.compression === 'object' && source.compression !== null)
      knownNames('compression', source.compression, COMPRESSION_NAMES);
  }
  const { handshakeRate, rateLimit } = merged;
  if (handshakeRate !== undefined) {
    if (handshakeRate === null || typeof handshakeRate !== 'object') {
      throw invalidOption('websocket(): option "handshakeRate" must be { handshakes, per, burst }');
    }
    knownNames('handshakeRate', handshakeRate, new Set(['handshakes', 'per', 'burst']));
    if (handshakeRate.handshakes === undefined)
      throw invalidOption('websocket(): option "handshakeRate.handshakes" is required');
  }
  if (rateLimit !== undefined) {
    if (rateLimit === null || typeof rateLimit !== 'object') {
      throw invalidOption('websocket(): option "rateLimit" must be { messages, bytes, per, burst, burstBytes }');
    }
    knownNames('rateLimit', rateLimit, new Set(['messages', 'bytes', 'per', 'burst', 'burstBytes']));
    if (rateLimit.messages === undefined && rateLimit.bytes === undefined) {
      throw invalidOption('websocket(): option "rateLimit" needs "messages", "bytes" or both');
    }
  }
  const { controlRate, maxDepth } = merged;
  if (controlRate !== undefined && controlRate !== false) {
    if (controlRate === null || typeof controlRate !== 'object') {
      throw invalidOption('websocket(): option "controlRate" must be false or { frames, per, burst }');
    }
    knownNames('controlRate', controlRate, CONTROL_RATE_DEFAULTS);
  }
  if (maxDepth !== undefined && maxDepth !== Infinity && !(Number.isInteger(maxDepth) && maxDepth > 0)) {
    throw invalidOption(
      `websocket(): option "maxDepth" must be a positive integer or Infinity, got ${String(maxDepth)}`,
    );
  }
  return {
    recovery: resolveRecovery(merged.recovery, merged.hub),
    protocols,
    origins,
    maxPayload: positive('maxPayload', merged.maxPayload, 1024 * 1024),
    compression: compression === true ? {} : compression || false,
    heartbeat: heartbeat === false ? false : withDefaults('heartbeat', heartbeat, HEARTBEAT_DEFAULTS),
    highWaterMark: positive('highWaterMark', merged.highWaterMark, 64 * 1024),
    maxBufferedAmount: positive('maxBufferedAmount', merged.maxBufferedAmount, DEFAULT_MAX_BUFFERED_AMOUNT),
    hub: merged.hub,
    fallback:
      merged.fallback === false
        ? false
        : {
            sessionTimeout: positive('fallback.sessionTimeout', merged.fallback?.sessionTimeout, 30_000),
            heartbeat: positive('fallback.heartbeat', merged.fallback?.heartbeat, 15_000),
            retry: positive('fallback.retry', merged.fallback?.retry, 1000),
            replay: positive('fallback.replay', merged.fallback?.replay, 1000),
            replayBytes: positive('fallback.replayBytes', merged.fallback?.replayBytes, 2 * 1024 * 1024),
            ...(merged.fallback?.owner ? { owner: merged.fallback.owner } : {}),
          },
    keepHeaders:
      keepHeaders === true ? true : new Set((keepHeaders ?? DEFAULT_KEPT_HEADERS).map((h) => h.toLowerCase())),
    // Headers the app named itself are kept whole; the default list guards against a client
    // that pads a header it would keep anyway.
    maxKeptHeaderLength: keepHeaders === undefined ? 1024 : Infinity,
    maxConnections: positive('maxConnections', merged.maxConnections, Infinity),
    maxConnectionsPerAddress: positive('maxConnectionsPerAddress', merged.maxConnectionsPerAddress, Infinity),
    handshakeRate:
      handshakeRate &&
      rateOf('handshakeRate', 'handshakes', handshakeRate.handshakes, handshakeRate.per, 'burst', handshakeRate.burst),
    maxPendingHandshakes: positive('maxPendingHandshakes', merged.maxPendingHandshakes, DEFAULT_MAX_PENDING_HANDSHAKES),
    messageRate:
      rateLimit && rateOf('rateLimit', 'messages', rateLimit.messages, rateLimit.per, 'burst', rateLimit.burst),
    byteRate:
      rateLimit && rateOf('rateLimit', 'bytes', rateLimit.bytes, rateLimit.per, 'burstBytes', rateLimit.burstBytes),
    controlRate: controlRate === false ? undefined : controlRateOf(controlRate),
    maxDepth: maxDepth ?? DEFAULT_MAX_DEPTH,
    idleTimeout: positive('idleTimeout', merged.idleTimeout, Infinity),
    maxLifetime: positive('maxLifetime', merged.maxLifetime, Infinity),
    closeTimeout: timerDelay('closeTimeout', merged.closeTimeout, DEFAULT_CLOSE_TIMEOUT),
    stats: merged.stats ?? true,
    schema: merged.schema as StandardSchemaV1 | undefined,
  };
}

/** `controlRate` as a token bucket's rate: each setting given, or its default. */
function controlRateOf(value: ControlRateOptions | undefined): Rate {
  const { frames, per, burst } = withDefaults('controlRate', value, CONTROL_RATE_DEFAULTS);
  return { count: frames, per, burst };
}

/** Each setting of a group, from `value` or its default, checked to be a positive number. */
function withDefaults<T extends Record<string, number>>(group: string, value: Partial<T> | undefined, defaults: T): T {
  const resolved = {} as Record<string, number>;
  for (const [name, fallback] of Object.entries(defaults))
    resolved[name] = positive(`${group}.${name}`, value?.[name], fallback);
  return resolved as T;
}

/** Rejects a nested option name the group does not know, naming its full path. */
function knownNames(group: string, value: object, known: ReadonlySet<string> | object): void {
  for (const name of Object.keys(value)) {
    if (known instanceof Set ? !known.has(name) : !Object.hasOwn(known, name))
      throw invalidOption(`websocket(): unknown option "${group}.${name}"`);
  }
}

/** A wrong option: a TypeError with a fixed message and {@link ErrorCode.INVALID_OPTION}. */
function invalidOption(message: string): TypeError {
  return withCode(new TypeError(message), ErrorCode.INVALID_OPTION);
}
