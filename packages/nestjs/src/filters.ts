/**
 * Nest's exception filters on both sides of the 101.
 *
 * Before it, a handshake is an HTTP request: an error from a gateway's guards goes through the
 * filters an HTTP route would use (the `@UseFilters` of `handleConnection`, of the gateway class,
 * then the app's global ones), with an `http` host whose response records what the filter writes.
 * That answer is the handshake's refusal; a filter that writes nothing, or throws, leaves the
 * default (an HttpException's status, else 500).
 *
 * After it, Nest itself runs a gateway's `@UseFilters` on a `@SubscribeMessage` handler's error
 * with a `ws` host. Below every filter of the gateway, switchyard's default keeps Nest's
 * `exception` event, and closes the connection with 1011 for anything that is not a WsException.
 */
import type { ArgumentsHost, ExceptionFilter, INestApplicationContext, Type } from '@nestjs/common';
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
 * app's global ones.
 */
export function handshakeFilters(
  app: INestApplicationContext,
  metatype: Type<unknown>,
  handleConnection: unknown,
): SelectedFilter[] {
  const declared = [
    ...globalFilters(app),
    ...((Reflect.getMetadata(FILTERS, metatype) as unknown[] | undefined) ?? []),
    ...((typeof handleConnection === 'function' &&
      (Reflect.getMetadata(FILTERS, handleConnection) as unknown[] | undefined)) ||
      []),
  ];
  return declared
    .filter((filter) => filter !== wsDefaultFilter)
    .map((filter) => filterInstance(app, filter))
    .filter((filter): filter is ExceptionFilter => typeof filter?.catch === 'function')
    .map((filter) => ({ filter, catches: catchTypes(filter) }))
    .reverse();
}

/** `app.useGlobalFilters()` and `APP_FILTER` providers, as the app's config holds them. */
function globalFilters(app: INestApplicationContext): unknown[] {
  const config = (app as { config?: { getGlobalFilters?(): unknown[] } }).config;
  return config?.getGlobalFilters?.() ?? [];
}

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

/** The `http` host a handshake's filter gets: the framework's request and the recording response. */
function handshakeHost(request: unknown, response: HandshakeResponse): ArgumentsHost {
  const args = [request, response, undefined];
  return {
    getArgs: () => args as never,
    getArgByIndex: (index: number) => args[index] as never,
    getType: () => 'http' as never,
    switchToHttp: () => ({
      getRequest: () => request as never,
      getResponse: () => response as never,
      getNext: () => undefined as never,
    }),
    switchToWs: () => ({
      getClient: () => request as never,
      getData: () => undefined as never,
      getPattern: () => 'connection',
    }),
    switchToRpc: () => ({ getData: () => undefined as never, getContext: () => request as never }),
  };
}

/**
 * Runs the filter Nest would choose for `error` on a handshake, and returns what it answered:
 * undefined when none applies, or it answered nothing valid by the time its `catch` returned (or
 * the promise it returned settled), or it threw.
 */
export async function answerWithFilters(
  filters: readonly SelectedFilter[],
  error: unknown,
  request: unknown,
): Promise<FilterAnswer | undefined> {
  const filter = selectFilter(filters, error);
  if (filter === undefined) return undefined;
  const response = new HandshakeResponse();
  try {
    const returned: unknown = filter.catch(error, handshakeHost(request, response));
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
