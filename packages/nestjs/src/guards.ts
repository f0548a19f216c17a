/**
 * The handshake's guards: the `@UseGuards` of each gateway on a path (on the class, and on its
 * `handleConnection`), run before the 101 with an `http` ExecutionContext whose request is the
 * upgrade request, exactly as an HTTP route's guards see theirs. A refusal becomes the HTTP
 * answer a route would give: what the gateway's exception filters write (filters.ts), else Nest's
 * default, `false` a 403 and an HttpException its own status. An error of the gateway's own
 * switchyard `upgrade` hook, which runs after the guards, is answered the same way.
 */
import { ForbiddenException } from '@nestjs/common';
import type { CanActivate, ExecutionContext, INestApplicationContext, Type } from '@nestjs/common';
import { ModulesContainer } from '@nestjs/core';
import type { RejectionHeaders } from '@switchyard/core';
import { lastValueFrom, isObservable } from 'rxjs';
import { HandshakeFilters, HandshakeHost, answerWithFilters } from './filters.js';
import type { WsGateway } from './filters.js';

// Nest's metadata keys (GUARDS_METADATA in @nestjs/common, GATEWAY_OPTIONS and PORT_METADATA in
// @nestjs/websockets): plain strings, the same on Nest 11 and 12, read here without deep imports.
const GUARDS = '__guards__';
const GATEWAY_OPTIONS = 'websockets:gateway_options';
const PORT = 'port';

/** One gateway class on a path, with what its handshake guards are. */
export interface Gateway {
  metatype: Type<unknown>;
  instance: Record<string, unknown>;
  /** `handleConnection` as the class declares it, where its decorators put their metadata. */
  handleConnection: unknown;
  guards: CanActivate[];
  filters: HandshakeFilters;
}

/** What a refused handshake answers: what the gateway's exception filter, or Nest's default, gives. */
export interface Refusal {
  status: number;
  message: string;
  headers?: RejectionHeaders;
}

/** The normalised form of a gateway path, as Nest's own adapters compare them. */
export function normalizePath(path: string | undefined): string {
  const withSlash = `/${(path ?? '').replace(/^\/+/, '')}`;
  return withSlash.length > 1 ? withSlash.replace(/\/+$/, '') : withSlash;
}

/** Every gateway of the app on the shared server (port 0), with its instance and options. */
export function* gatewaysOf(app: INestApplicationContext): Generator<WsGateway & { path: string }> {
  for (const module of app.get(ModulesContainer).values()) {
    for (const wrapper of module.providers.values()) {
      const metatype = wrapper.metatype as Type<unknown> | undefined;
      if (typeof metatype !== 'function' || wrapper.instance === undefined || wrapper.instance === null) continue;
      const options = Reflect.getMetadata(GATEWAY_OPTIONS, metatype) as { path?: string } | undefined;
      if (options === undefined || (Reflect.getMetadata(PORT, metatype) ?? 0) !== 0) continue;
      yield {
        metatype,
        instance: wrapper.instance as Record<string, unknown>,
        injectables: module.injectables,
        path: normalizePath(options.path),
      };
    }
  }
}

/**
 * Whether Nest calls a `handleDisconnect` on `path` (through the adapter's close): some gateway
 * class there has one, on its prototype or its instance. Nest connects gateways by their class,
 * so the classes are what is read, when the path is created.
 */
export function hearsDisconnect(app: INestApplicationContext, path: string): boolean {
  for (const module of app.get(ModulesContainer).values()) {
    for (const wrapper of module.providers.values()) {
      const metatype = wrapper.metatype as Type<unknown> | undefined;
      if (typeof metatype !== 'function') continue;
      const options = Reflect.getMetadata(GATEWAY_OPTIONS, metatype) as { path?: string } | undefined;
      if (options === undefined || (Reflect.getMetadata(PORT, metatype) ?? 0) !== 0) continue;
      if (normalizePath(options.path) !== path) continue;
      const prototype = metatype.prototype as Record<string, unknown> | undefined;
      const instance = wrapper.instance as Record<string, unknown> | null | undefined;
      if (typeof prototype?.handleDisconnect === 'function' || typeof instance?.handleDisconnect === 'function')
        return true;
    }
  }
  return false;
}

/** The gateways of the app on `path` of the shared server, with their guard and filter instances. */
export function findGateways(app: INestApplicationContext, path: string): Gateway[] {
  const gateways: Gateway[] = [];
  for (const { metatype, instance, path: own } of gatewaysOf(app)) {
    if (own !== path) continue;
    // The prototype's method: the instance's own is guarded (filters.ts) and has no metadata.
    const handleConnection = (metatype.prototype as Record<string, unknown>).handleConnection;
    const declared = [
      ...((Reflect.getMetadata(GUARDS, metatype) as unknown[] | undefined) ?? []),
      ...((typeof handleConnection === 'function' &&
        (Reflect.getMetadata(GUARDS, handleConnection) as unknown[] | undefined)) ||
        []),
    ];
    gateways.push({
      metatype,
      instance,
      handleConnection,
      guards: declared.map((guard) => guardInstance(app, guard)),
      filters: new HandshakeFilters(app, metatype, handleConnection),
    });
  }
  return gateways;
}

/** A guard named by its class comes from Nest's container (with its dependencies), as for routes. */
function guardInstance(app: INestApplicationContext, guard: unknown): CanActivate {
  if (typeof guard !== 'function') return guard as CanActivate;
  try {
    return app.get(guard as Type<CanActivate>, { strict: false });
  } catch {
    return new (guard as Type<CanActivate>)();
  }
}

/** The ExecutionContext a gateway's handshake guards get: type `http`, the upgrade request, no response. */
function handshakeContext(gateway: Gateway, request: unknown): ExecutionContext {
  const handler =
    typeof gateway.handleConnection === 'function'
      ? (gateway.handleConnection as (...args: unknown[]) => unknown)
      : (gateway.metatype as unknown as (...args: unknown[]) => unknown);
  return new HandshakeHost('http', [request, undefined], gateway.metatype, handler);
}

interface HttpExceptionLike {
  getStatus(): number;
  getResponse(): unknown;
}

function isHttpException(error: unknown): error is HttpExceptionLike {
  return (
    error !== null &&
    typeof error === 'object' &&
    typeof (error as HttpExceptionLike).getStatus === 'function' &&
    typeof (error as HttpExceptionLike).getResponse === 'function'
  );
}

/** The status and message Nest's BaseExceptionFilter gives an error thrown before the 101. */
export function refusalOf(error: unknown): Refusal {
  if (!isHttpException(error)) return { status: 500, message: 'Internal server error' };
  const status = error.getStatus();
  const response = error.getResponse() as string | { message?: unknown };
  const message = typeof response === 'string' ? response : response?.message;
  return {
    status: status >= 400 && status <= 599 ? status : 500,
    message: Array.isArray(message) ? message.join('; ') : String(message ?? error.getStatus()),
  };
}

/**
 * Runs every gateway's handshake guards in order; the first refusal answers. `request` is the
 * framework's (Express `req`, a FastifyRequest), as an HTTP route's guards get it. A guard's error,
 * or its `false` (Nest's ForbiddenException), goes to the gateway's exception filters, as on a
 * route; when none answers, an HttpException gives its own status, and any other error goes on
 * to core, which answers 500 and reports it to the `error` hook. Guards that answer with a plain
 * boolean are decided at once; a promise or an Observable is awaited, and the rest follow it.
 * `from` and `guard` say where to go on after such an answer.
 */
export function checkHandshake(
  gateways: readonly Gateway[],
  request: unknown,
  from = 0,
  guard = 0,
): Refusal | undefined | Promise<Refusal | undefined> {
  for (let g = from; g < gateways.length; g++, guard = 0) {
    const gateway = gateways[g]!;
    const guards = gateway.guards;
    if (guard >= guards.length) continue;
    const context = handshakeContext(gateway, request);
    for (let i = guard; i < guards.length; i++) {
      let allowed: unknown;
      try {
        allowed = guards[i]!.canActivate(context);
        if (isObservable(allowed)) allowed = lastValueFrom(allowed);
      } catch (error) {
        return refuse(gateway, error, request);
      }
      if (isThenable(allowed))
        return Promise.resolve(allowed).then(
          (verdict) => (verdict ? checkHandshake(gateways, request, g, i + 1) : refuse(gateway, forbidden(), request)),
          (error: unknown) => refuse(gateway, error, request),
        );
      if (!allowed) return refuse(gateway, forbidden(), request);
    }
  }
  return undefined;
}

/** Nest's own answer to a guard that says no. */
function forbidden(): ForbiddenException {
  return new ForbiddenException('Forbidden resource');
}

/** A guard's error goes to its gateway's filters; what none answers goes on to core. */
async function refuse(gateway: Gateway, error: unknown, request: unknown): Promise<Refusal> {
  const refusal = await refusalFor([gateway], error, request);
  if (refusal) return refusal;
  throw error;
}

/** A promise, or anything awaiting would wait for. */
export function isThenable(value: unknown): value is PromiseLike<unknown> {
  return value !== null && typeof value === 'object' && typeof (value as PromiseLike<unknown>).then === 'function';
}

/**
 * The refusal for an error before the 101: the first answer of the gateways' filters, else an
 * HttpException's own status; undefined for any other error, which core answers with 500 and
 * reports to the `error` hook.
 */
export async function refusalFor(
  gateways: readonly Gateway[],
  error: unknown,
  request: unknown,
): Promise<Refusal | undefined> {
  for (const gateway of gateways) {
    const answer = await answerWithFilters(gateway.filters, error, request);
    if (answer) return answer;
  }
  return isHttpException(error) ? refusalOf(error) : undefined;
}
