/**
 * What the adapter costs a gateway that asks for little: no promise before the 101 without a guard
 * (or with guards that answer at once), no peer-address lookup where nothing hears the close, and
 * the message dispatch's own handling of a handler's result: Observables that stop at the close,
 * and a result that arrives after it, never subscribed.
 */
import 'reflect-metadata';
import { Socket } from 'node:net';
import {
  type CanActivate,
  type ExecutionContext,
  type INestApplication,
  Injectable,
  type MiddlewareConsumer,
  Module,
  UseGuards,
} from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ExpressAdapter } from '@nestjs/platform-express';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { MessageBody, SubscribeMessage, WebSocketGateway } from '@nestjs/websockets';
import { Observable, finalize, interval, map } from 'rxjs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { SwitchyardAdapter } from '@switchyard/nestjs';
import { closed, delay, messages, openWs } from '../../../test/helpers.js';

/** What happened, in order, for the handshake under test. */
let order: string[] = [];

/** What Nest middleware saw of Express's request and response on each request to /plain. */
interface SeenByMiddleware {
  upgrade: boolean;
  baseUrl: unknown;
  originalUrl: unknown;
  params: unknown;
  locals: unknown;
  /** Whether Express's per-request properties were on the request before Express's own `req.res`. */
  shapedFirst: boolean;
}
let seenByMiddleware: SeenByMiddleware[] = [];

@Injectable()
class SyncGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    if (context.getType() === 'http') order.push('guard');
    return true;
  }
}

@Injectable()
class PromiseGuard implements CanActivate {
  canActivate(context: ExecutionContext): Promise<boolean> | boolean {
    if (context.getType() !== 'http') return true;
    order.push('guard');
    return Promise.resolve(true);
  }
}

/** Subscriptions of the handlers' Observables, and their teardowns. */
const observed = { subscribed: 0, finalized: 0 };

@WebSocketGateway({ path: '/plain' })
class PlainGateway {
  handleConnection(): void {
    order.push('connection');
  }

  @SubscribeMessage('ticks')
  ticks() {
    return new Observable<number>((subscriber) => {
      observed.subscribed++;
      return interval(5).subscribe(subscriber);
    }).pipe(
      map((n) => ({ event: 'tick', data: n })),
      finalize(() => observed.finalized++),
    );
  }

  @SubscribeMessage('late')
  async late(@MessageBody() ms: number) {
    await delay(ms);
    return new Observable<unknown>((subscriber) => {
      observed.subscribed++;
      subscriber.next({ event: 'late', data: ms });
      subscriber.complete();
    });
  }
}

@UseGuards(SyncGuard)
@WebSocketGateway({ path: '/sync-guarded' })
class SyncGuardedGateway {
  handleConnection(): void {
    order.push('connection');
  }
}

@UseGuards(PromiseGuard)
@WebSocketGateway({ path: '/promise-guarded' })
class PromiseGuardedGateway {
  handleConnection(): void {
    order.push('connection');
  }
}

@WebSocketGateway({ path: '/heard' })
class HeardGateway {
  static left: Array<string | undefined> = [];
  handleDisconnect(ws: { request: { remoteAddress?: string } }): void {
    HeardGateway.left.push(ws.request.remoteAddress);
  }
}

@Module({
  providers: [PlainGateway, SyncGuardedGateway, PromiseGuardedGateway, HeardGateway, SyncGuard, PromiseGuard],
})
class CostsModule {
  configure(consumer: MiddlewareConsumer): void {
    // A microtask queued before the gateway's route runs: whatever awaits anything runs after it.
    consumer
      .apply((_req: unknown, _res: unknown, next: () => void) => {
        order.push('middleware');
        queueMicrotask(() => order.push('microtask'));
        next();
      })
      .forRoutes('plain', 'sync-guarded', 'promise-guarded');
    consumer
      .apply((req: Record<string, unknown>, res: { locals?: unknown }, next: () => void) => {
        const keys = Object.keys(req);
        seenByMiddleware.push({
          upgrade: (req.headers as Record<string, string>).upgrade === 'websocket',
          baseUrl: req.baseUrl,
          originalUrl: req.originalUrl,
          params: req.params,
          locals: res.locals,
          shapedFirst:
            keys.includes('res') && keys.indexOf('route') !== -1 && keys.indexOf('route') < keys.indexOf('res'),
        });
        next();
      })
      .forRoutes('plain');
  }
}

const apps: INestApplication[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((app) => app.close()));
  vi.restoreAllMocks();
  order = [];
  seenByMiddleware = [];
  observed.subscribed = 0;
  observed.finalized = 0;
  HeardGateway.left = [];
});

async function start(platform: 'express' | 'fastify'): Promise<string> {
  const app = await NestFactory.create(
    CostsModule,
    platform === 'express' ? new ExpressAdapter() : new FastifyAdapter(),
    { logger: false },
  );
  app.useWebSocketAdapter(new SwitchyardAdapter(app));
  await app.listen(0, '127.0.0.1');
  apps.push(app);
  return `ws://127.0.0.1:${(app.getHttpServer().address() as { port: number }).port}`;
}

for (const platform of ['express', 'fastify'] as const) {
  describe(`the adapter on platform-${platform}`, () => {
    it('completes an unguarded handshake, or one whose guards answer at once, without awaiting anything', async () => {
      const base = await start(platform);
      for (const path of ['/plain', '/sync-guarded']) {
        order = [];
        const ws = await openWs(`${base}${path}`);
        await vi.waitFor(() => expect(order).toContain('microtask'));
        expect(order.filter((step) => step !== 'guard')).toEqual(['middleware', 'connection', 'microtask']);
        ws.close();
      }
      // A guard that answers with a promise is awaited: the 101 follows it.
      order = [];
      const ws = await openWs(`${base}/promise-guarded`);
      await vi.waitFor(() => expect(order).toContain('connection'));
      expect(order).toEqual(['middleware', 'guard', 'microtask', 'connection']);
      ws.close();
    });

    it('reads no peer address where nothing hears the close, and keeps it for handleDisconnect', async () => {
      const base = await start(platform);
      // Node's own method behind socket.remoteAddress (it caches the kernel's answer per socket).
      const lookups = vi.spyOn(Socket.prototype as unknown as { _getpeername(): object }, '_getpeername');
      const plain = await openWs(`${base}/plain`);
      plain.close();
      await closed(plain);
      await delay(50);
      // Fastify reads the address for every request itself (request.ip); Express does not.
      if (platform === 'express') expect(lookups).not.toHaveBeenCalled();
      const heard = await openWs(`${base}/heard`);
      heard.close();
      await vi.waitFor(() => expect(HeardGateway.left).toEqual(['127.0.0.1']));
      expect(lookups).toHaveBeenCalled();
    });

    it('stops an Observable still sending when the client leaves, on a path with no close hook', async () => {
      const base = await start(platform);
      const ws = await openWs(`${base}/plain`);
      const inbox = messages(ws);
      ws.send(JSON.stringify({ event: 'ticks' }));
      expect(JSON.parse((await inbox.next()).data.toString())).toEqual({ event: 'tick', data: 0 });
      expect(observed).toEqual({ subscribed: 1, finalized: 0 });
      ws.close();
      await vi.waitFor(() => expect(observed.finalized).toBe(1));
    });

    it('never subscribes to an Observable that a handler resolves to after the client left', async () => {
      const base = await start(platform);
      const ws = await openWs(`${base}/plain`);
      ws.send(JSON.stringify({ event: 'late', data: 100 }));
      await delay(10);
      ws.close();
      await closed(ws);
      await delay(200);
      expect(observed.subscribed).toBe(0);
      // While the client is there, the same handler's Observable is subscribed and answers.
      const again = await openWs(`${base}/plain`);
      const inbox = messages(again);
      again.send(JSON.stringify({ event: 'late', data: 1 }));
      expect(JSON.parse((await inbox.next()).data.toString())).toEqual({ event: 'late', data: 1 });
      expect(observed.subscribed).toBe(1);
      again.close();
    });
  });
}

describe('the adapter on platform-express: the upgrade request', () => {
  it("reaches Express with Express's per-request properties already on it, and middleware sees what Express sets", async () => {
    const base = await start('express');
    const ws = await openWs(`${base}/plain?room=a%20b&x=%00`);
    const inbox = messages(ws);
    ws.send(JSON.stringify({ event: 'late', data: 1 }));
    expect(JSON.parse((await inbox.next()).data.toString())).toEqual({ event: 'late', data: 1 });
    ws.close();
    await closed(ws);
    // A page request on the same path, through Express as usual (no gateway route answers it).
    const http = base.replace('ws://', 'http://');
    await fetch(`${http}/plain?room=a%20b`).then((response) => response.text());
    expect(seenByMiddleware).toEqual([
      {
        upgrade: true,
        baseUrl: '/plain',
        originalUrl: '/plain?room=a%20b&x=%00',
        params: {},
        locals: {},
        // Added before Express ran (core's shapeUpgradeRequests): one hidden class for every
        // handshake instead of a new one per property Express adds after its prototype swap.
        shapedFirst: true,
      },
      {
        upgrade: false,
        baseUrl: '/plain',
        originalUrl: '/plain?room=a%20b',
        params: {},
        locals: {},
        shapedFirst: false,
      },
    ]);
  });
});
