/**
 * Nest's exception filters on both sides of the 101.
 *
 * Before it, a handshake is an HTTP request: an error from a gateway's guards (or from its
 * switchyard `upgrade` hook) goes through the filters an HTTP route would use (the `@UseFilters`
 * of `handleConnection`, of the gateway class, then the app's global ones, read when the error
 * happens), with an `http` host whose response records what the filter writes. That answer is the
 * handshake's refusal; a filter that writes nothing, or throws, leaves the default (an
 * HttpException's status, else 500).
 *
 * After it, Nest itself runs a gateway's `@UseFilters` on a `@SubscribeMessage` handler's error
 * with a `ws` host. Below every filter of the gateway, switchyard's default keeps Nest's
 * `exception` event, and closes the connection with 1011 for anything that is not a WsException.
 * Nest drops what a ws filter's `catch` returns, so each filter a gateway reaches is guarded here:
 * its throw or rejection closes the connection with 1011 instead of escaping. `handleConnection`
 * runs after the 101 too, from an RxJS subscription that would rethrow its error out of band; it
 * is guarded the same way, and its error goes through its ws filters, then closes with 1011.
 */
import { Logger } from '@nestjs/common';
import type { ArgumentsHost, ExceptionFilter, ExecutionContext, INestApplicationContext, Type } from '@nestjs/common';
import { BaseWsExceptionFilter, WsException } from '@nestjs/websockets';
import { CloseCode, Connection } from '@switchyard/core';
import type { RejectionHeaders } from '@switchyard/core';

// Nest's metadata keys (EXCEPTION_FILTERS_METADATA and FILTER_CATCH_EXCEPTIONS in
// @nestjs/common): plain strings, the same on Nest 11 and 12.
const FILTERS = '__exceptionFilters__';
const CATCHES = '__filterCatchExceptions__';

/** The close reason of a connection whose handler failed with an error no filter took. */
export const INTERNAL_ERROR_REASON = 'Internal server error';

/** A filter as Nest selects it: its instance and the types its `@Catch` names (none: every error). */
interface SelectedFilter {
  filter: ExceptionFilter;
  catches: readonly Type<unknown>[];
}

/**
 * The filters a handshake's error goes through, first choice first: as Nest orders an HTTP
 * route's, the method's (`handleConnection`) last declared first, then the class's, then the
 * app's global ones. They are read when an error needs them, never on a handshake that passes,
 * and again whenever the app's global filters changed since (`useGlobalFilters()` after the
 * first handshake counts).
 */
export class HandshakeFilters {
  readonly #app: INestApplicationContext;
  readonly #metatype: Type<unknown>;
  readonly #handleConnection: unknown;
  #own: unknown[] | undefined;
  #globals: readonly unknown[] | undefined;
  #globalCount = 0;
  #selected: SelectedFilter[] = [];

  constructor(app: INestApplicationContext, metatype: Type<unknown>, handleConnection: unknown) {
    this.#app = app;
    this.#metatype = metatype;
    this.#handleConnection = handleConnection;
  }

  /** The filters as the app has them now. */
  current(): readonly SelectedFilter[] {
    const globals = globalFilters(this.#app);
    // Nest's config replaces its array on `useGlobalFilters()` and pushes to it for APP_FILTER.
    if (this.#own !== undefined && globals === this.#globals && globals.length === this.#globalCount)
      return this.#selected;
    this.#own ??= [...declaredFilters(this.#metatype), ...declaredFilters(this.#handleConnection)];
    this.#globals = globals;
    this.#globalCount = globals.length;
    this.#selected = [...globals, ...this.#own]
      .filter((filter) => filter !== wsDefaultFilter)
      .map((filter) => filterInstance(this.#app, filter))
      .filter((filter): filter is ExceptionFilter => typeof filter?.catch === 'function')
      .map((filter) => ({ filter, catches: catchTypes(filter) }))
      .reverse();
    return this.#selected;
  }
}

/** A class's or a method's `@UseFilters`, in declaration order. */
function declaredFilters(target: unknown): unknown[] {
  if (typeof target !== 'function') return [];
  return (Reflect.getMetadata(FILTERS, target) as unknown[] | undefined) ?? [];
}

/** `app.useGlobalFilters()` and `APP_FILTER` providers, as the app's config holds them. */
function globalFilters(app: INestApplicationContext): readonly unknown[] {
  const config = (app as { config?: { getGlobalFilters?(): unknown[] } }).config;
  return config?.getGlobalFilters?.() ?? NO_FILTERS;
}
const NO_FILTERS: readonly unknown[] = [];

/** A filter named by its class comes from Nest's container (with its dependencies), as for routes. */
function filterInstance(app: INestApplicationContext, filter: unknown): ExceptionFilter | undefined {
  if (typeof filter !== 'function') return filter as ExceptionFilter | undefined;
  try {
    return app.get(filter as Type<ExceptionFilter>, { strict: false });
  } catch {
    return new (filter as Type<ExceptionFilter>)();
  }
}

function catchTypes(filter: ExceptionFilter): readonly Type<unknown>[] {
  // `@Catch()` puts the types on the class; newer Nest also on its prototype.
  return (
    (Reflect.getMetadata(CATCHES, Object.getPrototypeOf(filter)) as Type<unknown>[] | undefined) ??
    (Reflect.getMetadata(CATCHES, filter.constructor) as Type<unknown>[] | undefined) ??
    []
  );
}

/** Nest's choice: the first filter whose `@Catch` is empty or names a class of the error. */
function selectFilter(filters: readonly SelectedFilter[], error: unknown): ExceptionFilter | undefined {
  return filters.find(
    ({ catches }) => catches.length === 0 || catches.some((type) => error instanceof (type as Type<unknown>)),
  )?.filter;
}

/** What a handshake filter wrote: the refusal that goes out instead of the 101. */
export interface FilterAnswer {
  status: number;
  message: string;
  headers: RejectionHeaders;
}

/**
 * The response a handshake's filter gets from `switchToHttp().getResponse()`: the calls Nest
 * filters make on Express's `res` and Fastify's `reply` (and `HttpAdapterHost.httpAdapter.reply`
 * on either), recorded. The socket belongs to switchyard by then, so nothing is written here;
 * the first complete answer is the refusal, and later ones are ignored.
 */
export class HandshakeResponse {
  /** The status set so far (Express's and Node's default, 200, until a filter sets one). */
  statusCode = 200;
  readonly #headers = new Map<string, { name: string; value: string | number | readonly string[] }>();
  #chunks: Buffer[] = [];
  #answer: FilterAnswer | undefined;
  #settled: (() => void) | undefined;
  /** Resolves when a filter completes an answer. */
  readonly answered = new Promise<void>((resolve) => {
    this.#settled = resolve;
  });

  /** The recorded answer, once a filter ended it. */
  get answer(): FilterAnswer | undefined {
    return this.#answer;
  }
  /** Express's and Node's flag: true once the answer is complete. */
  get headersSent(): boolean {
    return this.#answer !== undefined;
  }
  /** Node's flag, as `headersSent`. */
  get writableEnded(): boolean {
    return this.#answer !== undefined;
  }
  /** Fastify's flag, as `headersSent`. */
  get sent(): boolean {
    return this.#answer !== undefined;
  }
  /** Fastify's reply.raw: this same recorder, with Node's response methods. */
  get raw(): this {
    return this;
  }

  /** Express `res.status()`. */
  status(code: number): this {
    if (this.#answer === undefined) this.statusCode = code;
    return this;
  }
  /** Fastify `reply.code()`. */
  code(code: number): this {
    return this.status(code);
  }
  /** Express `res.set()`/`res.header()`, Fastify `reply.header()`: one header or an object of them. */
  set(name: string | Record<string, string | number | readonly string[]>, value?: string | number): this {
    if (typeof name === 'string') this.setHeader(name, value ?? '');
    else for (const [key, one] of Object.entries(name)) this.setHeader(key, one);
    return this;
  }
  /** Express `res.header()`, Fastify `reply.header()`. */
  header(name: string, value: string | number): this {
    return this.set(name, value);
  }
  /** Fastify `reply.headers()`. */
  headers(values: Record<string, string | number | readonly string[]>): this {
    return this.set(values);
  }
  /** Node `res.setHeader()`. */
  setHeader(name: string, value: string | number | readonly string[]): this {
    if (this.#answer === undefined) this.#headers.set(name.toLowerCase(), { name, value });
    return this;
  }
  /** Node `res.getHeader()`, Fastify `reply.getHeader()`. */
  getHeader(name: string): string | number | readonly string[] | undefined {
    return this.#headers.get(name.toLowerCase())?.value;
  }
  /** Node `res.hasHeader()`. */
  hasHeader(name: string): boolean {
    return this.#headers.has(name.toLowerCase());
  }
  /** Node `res.removeHeader()`. */
  removeHeader(name: string): void {
    if (this.#answer === undefined) this.#headers.delete(name.toLowerCase());
  }
  /** Express `res.type()`, Fastify `reply.type()`. */
  type(type: string): this {
    return this.setHeader('Content-Type', type.includes('/') ? type : `application/${type}`);
  }
  /** Node `res.writeHead()`. */
  writeHead(status: number, headers?: Record<string, string | number | readonly string[]>): this {
    this.status(status);
    if (headers) this.set(headers);
    return this;
  }
  /** Node `res.write()`. */
  write(chunk: string | Uint8Array): boolean {
    if (this.#answer === undefined) this.#chunks.push(Buffer.from(chunk));
    return true;
  }
  /** Express `res.json()`. */
  json(body: unknown): this {
    if (!this.hasHeader('content-type')) this.type('application/json');
    return this.send(JSON.stringify(body) ?? '');
  }
  /** Express `res.send()`, Fastify `reply.send()`: text, bytes, or an object as JSON. */
  send(body?: unknown): this {
    if (body !== undefined && body !== null && typeof body === 'object' && !(body instanceof Uint8Array))
      return this.json(body);
    this.end(body === undefined || body === null ? undefined : (body as string | Uint8Array));
    return this;
  }
  /** Node `res.end()`: completes the answer. */
  end(chunk?: string | Uint8Array | (() => void)): this {
    if (this.#answer !== undefined) return this;
    if (chunk !== undefined && typeof chunk !== 'function') this.write(chunk);
    const headers: RejectionHeaders = {};
    for (const { name, value } of this.#headers.values()) headers[name] = value;
    this.#answer = {
      status: this.statusCode,
      message: Buffer.concat(this.#chunks).toString(),
      headers,
    };
    this.#chunks = [];
    this.#settled?.();
    return this;
  }
}

/**
 * The host a filter gets: `http` before the 101 (the framework's request and the recording
 * response), `ws` for `handleConnection` (the Connection and its request). A handshake guard's
 * ExecutionContext is the `http` one with its class and handler (guards.ts). One object whose
 * methods are on its prototype: a handshake's guards share it, and it costs no closures.
 */
export class HandshakeHost implements ExecutionContext {
  readonly #type: 'http' | 'ws';
  readonly #args: readonly unknown[];
  readonly #class: Type<unknown> | undefined;
  readonly #handler: ((...args: unknown[]) => unknown) | undefined;

  constructor(
    type: 'http' | 'ws',
    args: readonly unknown[],
    metatype?: Type<unknown>,
    handler?: (...args: unknown[]) => unknown,
  ) {
    this.#type = type;
    this.#args = args;
    this.#class = metatype;
    this.#handler = handler;
  }

  getArgs<T extends unknown[] = unknown[]>(): T {
    return this.#args as T;
  }
  getArgByIndex<T = unknown>(index: number): T {
    return this.#args[index] as T;
  }
  getType<T extends string = string>(): T {
    return this.#type as T;
  }
  getClass<T = unknown>(): Type<T> {
    return this.#class as Type<T>;
  }
  getHandler(): (...args: unknown[]) => unknown {
    return this.#handler as (...args: unknown[]) => unknown;
  }
  switchToHttp(): this {
    return this;
  }
  switchToWs(): this {
    return this;
  }
  switchToRpc(): this {
    return this;
  }
  /** `http`: the framework's request. */
  getRequest<T = unknown>(): T {
    return this.#args[0] as T;
  }
  /** `http`: the response (before the 101, the recorder of what a filter answers). */
  getResponse<T = unknown>(): T {
    return this.#args[1] as T;
  }
  getNext<T = unknown>(): T {
    return undefined as T;
  }
  /** `ws`: the Connection. */
  getClient<T = unknown>(): T {
    return this.#args[0] as T;
  }
  getData<T = unknown>(): T {
    return undefined as T;
  }
  getPattern(): string {
    return 'connection';
  }
  /** `rpc`'s context: the first argument, as before. */
  getContext<T = unknown>(): T {
    return this.#args[0] as T;
  }
}

/**
 * Runs the filter Nest would choose for `error` on a handshake, and returns what it answered:
 * undefined when none applies, or it answered nothing valid by the time its `catch` returned (or
 * the promise it returned settled), or it threw.
 */
export async function answerWithFilters(
  filters: HandshakeFilters,
  error: unknown,
  request: unknown,
): Promise<FilterAnswer | undefined> {
  const filter = selectFilter(filters.current(), error);
  if (filter === undefined) return undefined;
  const response = new HandshakeResponse();
  try {
    const returned: unknown = filter.catch(error, new HandshakeHost('http', [request, response, undefined]));
    // An async filter may answer after an await; wait for it to answer or to finish.
    if (returned !== null && typeof (returned as PromiseLike<unknown>)?.then === 'function')
      await Promise.race([response.answered, returned]);
  } catch {
    // A filter that throws before answering leaves the default; one that answered stands.
  }
  const answer = response.answer;
  // A handshake is refused with an error status; anything else (a 200, a redirect) is not an answer
  // to an upgrade, and the default goes out instead.
  if (answer === undefined || !Number.isInteger(answer.status) || answer.status < 400 || answer.status > 599)
    return undefined;
  return answer;
}

/**
 * switchyard's default after the 101, below every filter of a gateway: Nest's own (the `exception`
 * event, and a log line for an unknown error), then, for anything not a WsException, a close with
 * 1011, since the connection's handler state can no longer be trusted.
 */
class SwitchyardWsExceptionFilter extends BaseWsExceptionFilter {
  override catch(exception: unknown, host: ArgumentsHost): void {
    super.catch(exception, host);
    const client: unknown = host.switchToWs().getClient();
    // Only switchyard's connections: a gateway class may also serve an app on another adapter.
    if (!(exception instanceof WsException) && client instanceof Connection && client.readyState === 1)
      client.close(CloseCode.INTERNAL_ERROR, INTERNAL_ERROR_REASON);
  }
}

const wsDefaultFilter = new SwitchyardWsExceptionFilter();

/**
 * Puts switchyard's default first among a gateway class's filters, which Nest reads last declared
 * first: it runs only when no filter of the gateway or its handler catches the error. Nest gives
 * gateways no global filters, so nothing ranks below it.
 */
export function installWsDefault(metatype: Type<unknown>): void {
  const declared = (Reflect.getMetadata(FILTERS, metatype) as unknown[] | undefined) ?? [];
  if (declared.includes(wsDefaultFilter)) return;
  Reflect.defineMetadata(FILTERS, [wsDefaultFilter, ...declared], metatype);
}

const logger = new Logger('SwitchyardAdapter');

/** A ws filter's own failure: logged, and the connection it was handling closed with 1011. */
function wsFilterFailed(host: ArgumentsHost, error: unknown): void {
  logger.error(error);
  closeInternal(host.switchToWs().getClient());
}

/** 1011 for a switchyard connection still open (a filter may have closed it with its own code). */
function closeInternal(client: unknown): void {
  if (client instanceof Connection && client.readyState === 1)
    client.close(CloseCode.INTERNAL_ERROR, INTERNAL_ERROR_REASON);
}

/** Filters whose `catch` is guarded already (a filter instance may serve many gateways and apps). */
const guardedFilters = new WeakSet<object>();

/**
 * Guards one filter instance's `catch` on a `ws` host: Nest calls it and drops the result, so a
 * throw or a rejection is caught here and closes the connection with 1011. On an `http` host it
 * runs as it is: the same instance may filter routes, and the handshake awaits its own.
 */
function guardWsFilter(filter: ExceptionFilter): void {
  // A frozen filter cannot be guarded; it keeps Nest's own behaviour.
  if (guardedFilters.has(filter) || !Object.isExtensible(filter)) return;
  guardedFilters.add(filter);
  const original = filter.catch;
  // An own property: Nest binds `instance.catch` when it builds a handler's filters, at init.
  Object.defineProperty(filter, 'catch', {
    configurable: true,
    writable: true,
    value: function guardedCatch(this: ExceptionFilter, exception: unknown, host: ArgumentsHost): unknown {
      if (host?.getType?.() !== 'ws') return Reflect.apply(original, this, [exception, host]);
      try {
        const returned: unknown = Reflect.apply(original, this, [exception, host]);
        if (returned === null || typeof (returned as PromiseLike<unknown>)?.then !== 'function') return returned;
        return Promise.resolve(returned).catch((error: unknown) => wsFilterFailed(host, error));
      } catch (error) {
        wsFilterFailed(host, error);
        return undefined;
      }
    },
  });
}

/** What the ws side needs of a gateway: its class, its instance, and its module's injectables. */
export interface WsGateway {
  metatype: Type<unknown>;
  instance: Record<string, unknown>;
  injectables: ReadonlyMap<unknown, { instance: unknown }>;
}

/**
 * A ws filter as Nest resolves it for a gateway's handler: an instance as it is, a class from
 * the gateway module's injectables (where Nest's scanner put it, with its dependencies).
 */
function wsFilterInstance(gateway: WsGateway, filter: unknown): ExceptionFilter | undefined {
  const instance = typeof filter === 'function' ? gateway.injectables.get(filter)?.instance : filter;
  return typeof (instance as ExceptionFilter | undefined)?.catch === 'function'
    ? (instance as ExceptionFilter)
    : undefined;
}

/** Every method of a class, up its prototype chain, as Nest's MetadataScanner finds handlers. */
function* methodsOf(metatype: Type<unknown>): Generator<unknown> {
  for (let proto = metatype.prototype as object | null; proto && proto !== Object.prototype; ) {
    for (const name of Object.getOwnPropertyNames(proto)) {
      if (name === 'constructor') continue;
      const descriptor = Object.getOwnPropertyDescriptor(proto, name);
      if (typeof descriptor?.value === 'function') yield descriptor.value;
    }
    proto = Object.getPrototypeOf(proto) as object | null;
  }
}

/**
 * The ws side of a gateway, made safe before Nest's init builds its handlers: every filter of
 * the class and its methods is guarded, and `handleConnection` (when it has one) too.
 */
export function guardGateway(gateway: WsGateway): void {
  const declared = [...declaredFilters(gateway.metatype)];
  for (const method of methodsOf(gateway.metatype)) declared.push(...declaredFilters(method));
  for (const filter of declared) {
    const instance = wsFilterInstance(gateway, filter);
    if (instance !== undefined && instance !== wsDefaultFilter) guardWsFilter(instance);
  }
  guardHandleConnection(gateway);
}

/** Gateway instances whose `handleConnection` is guarded already. */
const guardedGateways = new WeakSet<object>();

/**
 * `handleConnection` runs after the 101, inside an RxJS subscription that reports a throw out of
 * band (an uncaught exception) and drops a rejection: its error goes through its ws filters (its
 * method's `@UseFilters`, then the class's, then switchyard's default), then the connection, whose
 * set-up did not finish, closes with 1011 unless a filter closed it already.
 */
function guardHandleConnection(gateway: WsGateway): void {
  const { instance, metatype } = gateway;
  const original = instance.handleConnection;
  if (typeof original !== 'function' || guardedGateways.has(instance) || !Object.isExtensible(instance)) return;
  guardedGateways.add(instance);
  const method = (metatype.prototype as Record<string, unknown>).handleConnection;
  const filters = [...declaredFilters(metatype), ...declaredFilters(method)]
    .map((filter) => wsFilterInstance(gateway, filter))
    .filter((filter): filter is ExceptionFilter => filter !== undefined)
    .map((filter) => ({ filter, catches: catchTypes(filter) }))
    .reverse();
  const failed = (error: unknown, client: unknown, request: unknown) =>
    connectionFailed(filters, error, client, request).catch((failure: unknown) => {
      logger.error(failure);
      closeInternal(client);
    });
  instance.handleConnection = function guardedHandleConnection(this: unknown, ...args: unknown[]): unknown {
    try {
      const returned: unknown = Reflect.apply(original, this, args);
      if (returned === null || typeof (returned as PromiseLike<unknown>)?.then !== 'function') return returned;
      return Promise.resolve(returned).catch((error: unknown) => failed(error, args[0], args[1]));
    } catch (error) {
      return failed(error, args[0], args[1]);
    }
  };
}

async function connectionFailed(
  filters: readonly SelectedFilter[],
  error: unknown,
  client: unknown,
  request: unknown,
): Promise<void> {
  const filter = selectFilter(filters, error);
  if (filter !== undefined) await filter.catch(error, new HandshakeHost('ws', [client, request]));
  else logger.error(error);
  closeInternal(client);
}
