/**
 * Nest's exception filters on both sides of the 101: the gateway's `@UseFilters` (class and
 * `handleConnection`) and the app's global filters answer a handshake with real HTTP, for a
 * guard's error and for the gateway's `upgrade` hook's; after the 101 the gateway's filters get a
 * `ws` host, for a message handler's error and for `handleConnection`'s, and switchyard's default
 * maps what they leave to Nest's `exception` event (WsException) or a 1011 close. A filter that
 * throws or rejects after the 101 closes with 1011 and leaves nothing unhandled.
 */
import 'reflect-metadata';
import {
  type ArgumentsHost,
  type CanActivate,
  Catch,
  type ExceptionFilter,
  type ExecutionContext,
  type INestApplication,
  Injectable,
  Module,
  UnauthorizedException,
  UseFilters,
  UseGuards,
} from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ExpressAdapter } from '@nestjs/platform-express';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { WsAdapter } from '@nestjs/platform-ws';
import {
  BaseWsExceptionFilter,
  MessageBody,
  SubscribeMessage,
  WebSocketGateway,
  WebSocketServer,
  WsException,
} from '@nestjs/websockets';
import fc from 'fast-check';
import { throwError } from 'rxjs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type WebSocket from 'ws';
import type { Connection } from '@switchyard/core';
import { SwitchyardAdapter, type SwitchyardServer } from '@switchyard/nestjs';
import { RawClient, closed, handshakeRequest, messages, openWs, readResponse } from '../../../test/helpers.js';

/** What a filter does with the error it catches, as the error says. */
const ACTIONS = ['answer', 'silent', 'throw', 'twice', 'async', 'asyncSilent', 'asyncThrow', 'status200'] as const;
type Action = (typeof ACTIONS)[number];
const PLACES = ['class', 'method', 'global', 'none'] as const;
type Place = (typeof PLACES)[number];

/** An error aimed at one filter (by its class), telling it what to do. */
class PlacedError extends Error {
  constructor(
    readonly action: Action,
    readonly status: number,
  ) {
    super(`placed ${action}`);
  }
}
class ClassError extends PlacedError {}
class MethodError extends PlacedError {}
class GlobalError extends PlacedError {}
class NoneError extends PlacedError {}
const ERRORS: Record<Place, new (action: Action, status: number) => PlacedError> = {
  class: ClassError,
  method: MethodError,
  global: GlobalError,
  none: NoneError,
};

/** Express's `res` and Fastify's `reply`, as far as the filters below use them. */
interface AnyResponse {
  status(code: number): AnyResponse;
  header(name: string, value: string): AnyResponse;
  send(body?: unknown): AnyResponse;
}

function act(place: Place, error: PlacedError, host: ArgumentsHost): unknown {
  if (host.getType() === 'ws') {
    const ws = host.switchToWs().getClient<Connection>();
    // After the 101: 'answer' replies, 'throw' fails, 'status200' closes with a code of its own.
    if (error.action === 'answer') ws.send(JSON.stringify({ event: 'filtered', data: place }));
    if (error.action === 'twice') {
      ws.send(JSON.stringify({ event: 'filtered', data: place }));
      ws.send(JSON.stringify({ event: 'filtered', data: place }));
    }
    if (error.action === 'status200') ws.close(4000 + PLACES.indexOf(place), `closed by ${place}`);
    if (error.action === 'throw') throw new Error('the filter failed');
    if (error.action === 'asyncThrow') return Promise.reject(new Error('the filter failed later'));
    return undefined;
  }
  const response = host.switchToHttp().getResponse<AnyResponse>();
  const answer = (status = error.status) =>
    response.status(status).header('x-filter', place).send({ place, status: error.status });
  switch (error.action) {
    case 'answer':
      return answer();
    case 'silent':
      return undefined;
    case 'throw':
      throw new Error('the filter failed');
    case 'twice':
      answer();
      return answer(599);
    case 'async':
      return Promise.resolve().then(() => answer());
    case 'asyncSilent':
      return Promise.resolve();
    case 'asyncThrow':
      return Promise.reject(new Error('the filter failed later'));
    case 'status200':
      return answer(200);
  }
}

@Catch(ClassError)
class ClassFilter implements ExceptionFilter {
  catch(error: ClassError, host: ArgumentsHost) {
    return act('class', error, host);
  }
}
@Catch(MethodError)
class MethodFilter implements ExceptionFilter {
  catch(error: MethodError, host: ArgumentsHost) {
    return act('method', error, host);
  }
}
@Catch(GlobalError)
class GlobalFilter implements ExceptionFilter {
  catch(error: GlobalError, host: ArgumentsHost) {
    return act('global', error, host);
  }
}

/** An error for the filters given as instances (`@UseFilters(new InstanceFilter(...))`). */
class InstanceError extends PlacedError {}
@Catch(InstanceError)
class InstanceFilter implements ExceptionFilter {
  constructor(readonly place: 'class' | 'method') {}
  catch(error: InstanceError, host: ArgumentsHost) {
    return act(this.place, error, host);
  }
}

/** A global filter added after the app served its first handshakes. */
class LateError extends PlacedError {}
@Catch(LateError)
class LateFilter implements ExceptionFilter {
  catch(error: LateError, host: ArgumentsHost) {
    host.switchToHttp().getResponse<AnyResponse>().status(error.status).header('x-filter', 'late').send('late');
  }
}

/** Nest's documented way to keep its default behaviour in a filter of one's own. */
@Catch()
class InheritingFilter extends BaseWsExceptionFilter {
  override catch(exception: unknown, host: ArgumentsHost) {
    super.catch(exception, host);
  }
}

/** `x-throw: <place>:<action>:<status>` makes the handshake guard throw that error. */
@Injectable()
class ThrowingGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    if (context.getType() !== 'http') return true;
    const spec = context.switchToHttp().getRequest<{ headers: Record<string, string> }>().headers['x-throw'];
    if (spec === undefined) return true;
    const [place, action, status] = spec.split(':') as [Place | 'unauthorized' | 'deny' | 'late', Action, string];
    if (place === 'unauthorized') throw new UnauthorizedException('token required');
    if (place === 'deny') return false;
    if (place === 'late') throw new LateError(action, Number(status));
    throw new ERRORS[place](action, Number(status));
  }
}

/** `<place>:<action>:<status>`, or a WsException for `ws`, or an HttpException for `unauthorized`. */
function placedError(spec: string): Error {
  const [place, action, status] = spec.split(':') as [Place | 'ws' | 'unauthorized', Action, string];
  if (place === 'ws') return new WsException('not welcome');
  if (place === 'unauthorized') return new UnauthorizedException('token required');
  return new ERRORS[place](action, Number(status));
}

@UseFilters(ClassFilter, new InstanceFilter('class'))
@UseGuards(ThrowingGuard)
@WebSocketGateway({
  path: '/filtered',
  error: (_ws: unknown, error: Error) => FilteredGateway.errors.push(error),
  // `x-upgrade-throw: <place>:<action>:<status>` makes the gateway's own upgrade hook fail, after the guards.
  upgrade: (req: { headers: Record<string, string | string[] | undefined> }) => {
    const spec = req.headers['x-upgrade-throw'];
    if (typeof spec === 'string') throw placedError(spec);
    return undefined;
  },
})
class FilteredGateway {
  /** What core's `error` hook saw: an error no filter answered goes there, with its 500. */
  static errors: Error[] = [];
  @WebSocketServer() server!: SwitchyardServer;

  /** `?connect=<place>:<action>` (or `;async` after it) makes handleConnection fail, after the 101. */
  @UseFilters(MethodFilter)
  handleConnection(_ws: unknown, request: { url: string }): unknown {
    const spec = new URL(request.url, 'http://localhost').searchParams.get('connect');
    if (spec === null) return undefined;
    const [placed = '', timing] = spec.split(';');
    if (timing === 'async') return Promise.resolve().then(() => Promise.reject(placedError(placed)));
    throw placedError(placed);
  }

  @SubscribeMessage('echo')
  echo(@MessageBody() data: unknown) {
    return { event: 'echo', data };
  }

  @UseFilters(MethodFilter)
  @SubscribeMessage('throw')
  throws(@MessageBody() { place, action }: { place: Place; action: Action }) {
    throw new ERRORS[place](action, 500);
  }

  @UseFilters(MethodFilter)
  @SubscribeMessage('observable')
  observable(@MessageBody() { place, action }: { place: Place; action: Action }) {
    return throwError(() => new ERRORS[place](action, 500));
  }

  @UseFilters(new InstanceFilter('method'))
  @SubscribeMessage('instance')
  instance(@MessageBody() { action }: { action: Action }) {
    throw new InstanceError(action, 500);
  }

  @SubscribeMessage('instance-class')
  instanceClass(@MessageBody() { action }: { action: Action }) {
    throw new InstanceError(action, 500);
  }

  @SubscribeMessage('ws-exception')
  wsException() {
    throw new WsException('no such room');
  }

  @SubscribeMessage('crash')
  crash() {
    throw new Error('bug');
  }

  @UseFilters(InheritingFilter)
  @SubscribeMessage('inherited-crash')
  inheritedCrash() {
    throw new Error('bug');
  }
}

@Module({ providers: [FilteredGateway, ThrowingGuard] })
class FilteredModule {}

/** The same failing handlers, for an app on @nestjs/platform-ws: a class SwitchyardAdapter never saw. */
@WebSocketGateway({ path: '/peer' })
class PeerGateway {
  @SubscribeMessage('echo')
  echo(@MessageBody() data: unknown) {
    return { event: 'echo', data };
  }

  @SubscribeMessage('crash')
  crash() {
    throw new Error('bug');
  }
}

@Module({ providers: [PeerGateway] })
class PeerModule {}

type Platform = 'express' | 'fastify';
const apps: INestApplication[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((app) => app.close()));
  FilteredGateway.errors = [];
});

async function start(platform: Platform) {
  const app = await NestFactory.create(
    FilteredModule,
    platform === 'express' ? new ExpressAdapter() : new FastifyAdapter(),
    {
      logger: false,
    },
  );
  app.useGlobalFilters(new GlobalFilter());
  app.useWebSocketAdapter(new SwitchyardAdapter(app));
  await app.listen(0, '127.0.0.1');
  apps.push(app);
  const { port } = app.getHttpServer().address() as { port: number };
  const server = app.get(FilteredGateway).server;
  return { app, port, url: `ws://127.0.0.1:${port}/filtered`, server };
}

/** The raw HTTP answer to a handshake whose guard throws `spec`. */
async function handshake(port: number, spec: string, header = 'X-Throw') {
  const client = await RawClient.connect(port);
  client.write(handshakeRequest('/filtered', { [header]: spec }));
  const response = await readResponse(client);
  // Nothing follows the answer: no 101, no frame.
  await client.waitClosed();
  const text = client.received.toString('latin1');
  client.destroy();
  return { ...response, text };
}

/** What the handshake must answer for an error thrown at `place` whose filter does `action`. */
function expectedHttp(place: Place, action: Action, status: number): { status: number; filter?: Place } {
  const answers = place !== 'none' && ['answer', 'twice', 'async'].includes(action);
  return answers ? { status, filter: place } : { status: 500 };
}

/** What the connection must see after a handler throws at `place` and its filter does `action`. */
function expectedWs(place: Place, action: Action): { close?: number; event?: string } {
  // Nest gives gateways no global filters: a GlobalError reaches switchyard's default, as 'none'.
  if (place === 'global' || place === 'none') return { close: 1011 };
  if (action === 'answer' || action === 'twice') return { event: 'filtered' };
  if (action === 'status200') return { close: 4000 + PLACES.indexOf(place) };
  if (action === 'throw' || action === 'asyncThrow') return { close: 1011 };
  return {};
}

/** What a connection sees when handleConnection throws at `place` and its filter does `action`. */
function expectedConnect(place: Place, action: Action): { events: string[]; close: { code: number; reason: string } } {
  const internal = { code: 1011, reason: 'Internal server error' };
  // handleConnection's filters are its method's and its class's: anything else reaches the default.
  if (place === 'global' || place === 'none') return { events: ['exception'], close: internal };
  if (action === 'status200')
    return { events: [], close: { code: 4000 + PLACES.indexOf(place), reason: `closed by ${place}` } };
  const events = action === 'answer' ? ['filtered'] : action === 'twice' ? ['filtered', 'filtered'] : [];
  return { events, close: internal };
}

async function nextJson(ws: WebSocket): Promise<{ event: string; data: unknown }> {
  const { data } = await messages(ws).next();
  return JSON.parse(data.toString()) as { event: string; data: unknown };
}

/** Sends the frame, then proves the outcome: the close, or the event and an echo on the same connection. */
async function afterThe101(url: string, frame: object, expected: { close?: number; event?: string }) {
  const ws = await openWs(url);
  const done = closed(ws);
  ws.send(JSON.stringify(frame));
  if (expected.close !== undefined) {
    expect((await done).code).toBe(expected.close);
    return;
  }
  ws.send(JSON.stringify({ event: 'echo', data: 'still open' }));
  let reply = await nextJson(ws);
  if (expected.event !== undefined) {
    expect(reply.event).toBe(expected.event);
    while (reply.event === expected.event) reply = await nextJson(ws);
  }
  expect(reply).toEqual({ event: 'echo', data: 'still open' });
  ws.close();
  await done;
}

/**
 * Runs `body` and proves nothing escaped to the process meanwhile: an unhandled rejection or an
 * uncaught exception, either of which ends a Node process on its defaults.
 */
async function nothingEscapes(body: () => Promise<void>): Promise<void> {
  const escaped = vi.fn();
  process.on('unhandledRejection', escaped);
  process.on('uncaughtException', escaped);
  try {
    await body();
    // Node reports a rejection once the microtasks drain, and RxJS rethrows a subscriber's error
    // from a timer: one timer turn later both would have been seen.
    await new Promise((resolve) => setTimeout(resolve, 10));
  } finally {
    process.off('unhandledRejection', escaped);
    process.off('uncaughtException', escaped);
  }
  expect(escaped).not.toHaveBeenCalled();
}

/** Opens `url` and waits for the server to close it: the events it sent, then the close. */
async function eventsUntilClosed(url: string): Promise<{ events: string[]; close: { code: number; reason: string } }> {
  const ws = await openWs(url);
  const close = await closed(ws);
  const events = messages(ws).all.map(({ data }) => (JSON.parse(data.toString()) as { event: string }).event);
  return { events, close };
}

/** The app still answers on a fresh connection. */
async function stillServing(url: string): Promise<void> {
  const ws = await openWs(url);
  ws.send(JSON.stringify({ event: 'echo', data: 'alive' }));
  expect(await nextJson(ws)).toEqual({ event: 'echo', data: 'alive' });
  ws.close();
  await closed(ws);
}

const INTERNAL = { code: 1011, reason: 'Internal server error' };

describe('@nestjs/platform-ws, the peer', () => {
  it("keeps the connection open after a handler's Error, with the exception event (switchyard closes 1011)", async () => {
    const app = await NestFactory.create(PeerModule, new ExpressAdapter(), { logger: false });
    app.useWebSocketAdapter(new WsAdapter(app));
    await app.listen(0, '127.0.0.1');
    apps.push(app);
    const { port } = app.getHttpServer().address() as { port: number };
    const ws = await openWs(`ws://127.0.0.1:${port}/peer`);
    ws.send(JSON.stringify({ event: 'crash' }));
    expect(await nextJson(ws)).toMatchObject({ event: 'exception', data: { message: 'Internal server error' } });
    ws.send(JSON.stringify({ event: 'echo', data: 'still open' }));
    expect(await nextJson(ws)).toEqual({ event: 'echo', data: 'still open' });
    ws.close();
  });
});

for (const platform of ['express', 'fastify'] as const) {
  describe(`exception filters on platform-${platform}`, () => {
    it('before the 101: class, method and global filters answer with their own status, headers and body', async () => {
      const { port } = await start(platform);
      for (const place of ['class', 'method', 'global'] as const) {
        const response = await handshake(port, `${place}:answer:418`);
        expect(response.status).toBe(418);
        expect(response.headers['x-filter']).toBe(place);
        expect(JSON.parse(response.body)).toEqual({ place, status: 418 });
        // The type the filter's json() set, and its body exactly as written.
        expect(response.headers['content-type']).toMatch(/^application\/json/);
        expect(response.body).toBe(JSON.stringify({ place, status: 418 }));
        expect(response.text).not.toContain(' 101 ');
      }
    });

    it('before the 101: no matching filter, a silent or throwing filter, or a 200 fall back to the default mapping', async () => {
      const { port } = await start(platform);
      expect((await handshake(port, 'unauthorized::')).status).toBe(401);
      expect((await handshake(port, 'deny::')).status).toBe(403);
      for (const action of ['silent', 'throw', 'asyncSilent', 'asyncThrow', 'status200'] as const) {
        const response = await handshake(port, `class:${action}:418`);
        expect(response.status, action).toBe(500);
        expect(response.headers['x-filter'], action).toBeUndefined();
      }
      expect((await handshake(port, 'none:answer:418')).status).toBe(500);
      // The errors nobody answered reached the `error` hook; the HttpExceptions did not.
      expect(FilteredGateway.errors.map((error) => error.message)).toEqual([
        ...['silent', 'throw', 'asyncSilent', 'asyncThrow', 'status200'].map((action) => `placed ${action}`),
        'placed answer',
      ]);
    });

    it('before the 101: a filter that answers twice sends its first answer; an async filter its awaited one', async () => {
      const { port } = await start(platform);
      expect((await handshake(port, 'method:twice:451')).status).toBe(451);
      expect((await handshake(port, 'class:async:429')).status).toBe(429);
    });

    it("after the 101: a WsException is Nest's exception event and the connection stays open; any other error closes 1011", async () => {
      const { url } = await start(platform);
      const ws = await openWs(url);
      const done = closed(ws);
      ws.send(JSON.stringify({ event: 'ws-exception' }));
      expect(await nextJson(ws)).toMatchObject({
        event: 'exception',
        data: { status: 'error', message: 'no such room' },
      });
      ws.send(JSON.stringify({ event: 'echo', data: 1 }));
      expect(await nextJson(ws)).toEqual({ event: 'echo', data: 1 });
      ws.send(JSON.stringify({ event: 'crash' }));
      expect(await nextJson(ws)).toMatchObject({ event: 'exception', data: { message: 'Internal server error' } });
      expect(await done).toEqual({ code: 1011, reason: 'Internal server error' });
    });

    it("after the 101: a filter extending BaseWsExceptionFilter gets Nest's behaviour, the event and no close", async () => {
      const { url } = await start(platform);
      await afterThe101(url, { event: 'inherited-crash' }, { event: 'exception' });
    });

    it('after the 101: class and method filters get a ws host, reply or close with their own code', async () => {
      const { url } = await start(platform);
      await afterThe101(url, { event: 'throw', data: { place: 'method', action: 'answer' } }, { event: 'filtered' });
      await afterThe101(url, { event: 'throw', data: { place: 'class', action: 'silent' } }, {});
      await afterThe101(url, { event: 'observable', data: { place: 'class', action: 'status200' } }, { close: 4000 });
      await afterThe101(url, { event: 'throw', data: { place: 'method', action: 'throw' } }, { close: 1011 });
    });

    it('after the 101: a filter that throws or rejects (class or method, DI class or instance) closes 1011, nothing escapes', async () => {
      const { url } = await start(platform);
      await nothingEscapes(async () => {
        for (const action of ['throw', 'asyncThrow'] as const) {
          for (const frame of [
            { event: 'throw', data: { place: 'class', action } },
            { event: 'throw', data: { place: 'method', action } },
            { event: 'observable', data: { place: 'class', action } },
            { event: 'observable', data: { place: 'method', action } },
            { event: 'instance', data: { action } },
            { event: 'instance-class', data: { action } },
          ]) {
            const ws = await openWs(url);
            const done = closed(ws);
            ws.send(JSON.stringify(frame));
            expect(await done, JSON.stringify(frame)).toEqual(INTERNAL);
          }
        }
        await stillServing(url);
      });
    });

    it('after the 101: an instance filter that answers is chosen by its @Catch, method before class', async () => {
      const { url } = await start(platform);
      const method = await openWs(url);
      method.send(JSON.stringify({ event: 'instance', data: { action: 'answer' } }));
      expect(await nextJson(method)).toEqual({ event: 'filtered', data: 'method' });
      const atClass = await openWs(url);
      atClass.send(JSON.stringify({ event: 'instance-class', data: { action: 'answer' } }));
      expect(await nextJson(atClass)).toEqual({ event: 'filtered', data: 'class' });
      method.close();
      atClass.close();
    });

    it('handleConnection (after the 101): its error goes through its ws filters, then closes 1011, nothing escapes', async () => {
      const { url } = await start(platform);
      const connect = (spec: string) => `${url}?connect=${encodeURIComponent(spec)}`;
      await nothingEscapes(async () => {
        // No filter takes it: switchyard's default, Nest's exception event, then 1011.
        for (const spec of ['none:silent:0', 'none:silent:0;async']) {
          expect(await eventsUntilClosed(connect(spec)), spec).toEqual({ events: ['exception'], close: INTERNAL });
        }
        // A WsException gets the event, and the connection whose set-up failed still closes.
        expect(await eventsUntilClosed(connect('ws::'))).toEqual({ events: ['exception'], close: INTERNAL });
        // handleConnection's own @UseFilters first, then the class's; a filter's own close stands.
        expect(await eventsUntilClosed(connect('method:status200:0'))).toEqual({
          events: [],
          close: { code: 4001, reason: 'closed by method' },
        });
        expect(await eventsUntilClosed(connect('method:answer:0;async'))).toEqual({
          events: ['filtered'],
          close: INTERNAL,
        });
        expect(await eventsUntilClosed(connect('class:silent:0'))).toEqual({ events: [], close: INTERNAL });
        // A filter that fails, at once or later.
        expect(await eventsUntilClosed(connect('class:throw:0'))).toEqual({ events: [], close: INTERNAL });
        expect(await eventsUntilClosed(connect('method:asyncThrow:0;async'))).toEqual({ events: [], close: INTERNAL });
        await stillServing(url);
      });
    });

    it("before the 101: the gateway's upgrade hook's error goes through the handshake filters, as a guard's", async () => {
      const { port, url } = await start(platform);
      const answered = await handshake(port, 'class:answer:418', 'X-Upgrade-Throw');
      expect(answered.status).toBe(418);
      expect(answered.headers['x-filter']).toBe('class');
      const global = await handshake(port, 'global:answer:451', 'X-Upgrade-Throw');
      expect([global.status, global.headers['x-filter']]).toEqual([451, 'global']);
      expect((await handshake(port, 'unauthorized::', 'X-Upgrade-Throw')).status).toBe(401);
      const silent = await handshake(port, 'method:silent:418', 'X-Upgrade-Throw');
      expect([silent.status, silent.headers['x-filter']]).toEqual([500, undefined]);
      // Hostile: a filter that throws later leaves the default, and the error hook saw the error.
      expect((await handshake(port, 'method:asyncThrow:418', 'X-Upgrade-Throw')).status).toBe(500);
      expect(FilteredGateway.errors.map((error) => error.message)).toEqual(['placed silent', 'placed asyncThrow']);
      await stillServing(url);
    });

    it('before the 101: a global filter added after the first handshakes answers the next one', async () => {
      const { app, port, url } = await start(platform);
      // The path's gateways, guards and filters are read, and a refusal went through the filters.
      await stillServing(url);
      expect((await handshake(port, 'class:answer:418')).status).toBe(418);
      expect((await handshake(port, 'late:answer:429')).status).toBe(500);
      app.useGlobalFilters(new LateFilter());
      const late = await handshake(port, 'late:answer:429');
      expect([late.status, late.headers['x-filter'], late.body]).toEqual([429, 'late', 'late\n']);
      // The filters read before still answer.
      expect((await handshake(port, 'class:answer:418')).status).toBe(418);
    });

    it('any place × any filter action, at any step: a well-formed answer before the 101 or a proper close after it, nothing escapes, the app lives', async () => {
      const { url, port, server } = await start(platform);
      await nothingEscapes(() =>
        fc.assert(
          fc.asyncProperty(
            fc.constantFrom(...PLACES),
            fc.constantFrom(...ACTIONS),
            fc.integer({ min: 400, max: 599 }),
            fc.constantFrom('handshake', 'upgrade', 'throw', 'observable', 'connect', 'connect;async'),
            async (place, action, status, where) => {
              if (where === 'handshake' || where === 'upgrade') {
                const spec = `${place}:${action}:${status}`;
                const response = await handshake(port, spec, where === 'upgrade' ? 'X-Upgrade-Throw' : 'X-Throw');
                const expected = expectedHttp(place, action, status);
                expect(response.statusLine).toMatch(/^HTTP\/1\.1 \d{3} /);
                expect(response.status).toBe(expected.status);
                expect(response.headers['x-filter']).toBe(expected.filter);
                expect(response.headers['sec-websocket-accept']).toBeUndefined();
                return;
              }
              if (where.startsWith('connect')) {
                const timing = where === 'connect;async' ? ';async' : '';
                const spec = encodeURIComponent(`${place}:${action}:0${timing}`);
                expect(await eventsUntilClosed(`${url}?connect=${spec}`)).toEqual(expectedConnect(place, action));
                return;
              }
              await afterThe101(url, { event: where, data: { place, action } }, expectedWs(place, action));
            },
          ),
          { numRuns: 80, seed: 20261207 },
        ),
      );
      await expect.poll(() => server.endpoint.stats().handshakes.pending).toBe(0);
      const ws = await openWs(url);
      ws.send(JSON.stringify({ event: 'echo', data: 'alive' }));
      expect(await nextJson(ws)).toEqual({ event: 'echo', data: 'alive' });
      ws.close();
    });
  });
}
