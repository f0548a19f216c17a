/**
 * Handshake guards in order (guards.ts): the class's guards, then `handleConnection`'s, then the
 * next gateway's on the same path, whatever each answers with: a boolean at once, a promise or an
 * Observable. Each sees the framework's request with what an earlier one set; the first that
 * says no answers the handshake, and the guards after it never run.
 */
import 'reflect-metadata';
import {
  type CanActivate,
  type ExecutionContext,
  type INestApplication,
  Module,
  UnauthorizedException,
  UseGuards,
} from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ExpressAdapter } from '@nestjs/platform-express';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { ConnectedSocket, SubscribeMessage, WebSocketGateway } from '@nestjs/websockets';
import fc from 'fast-check';
import { Observable, of, throwError } from 'rxjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Connection } from '@switchyard/core';
import { SwitchyardAdapter } from '@switchyard/nestjs';
import { RawClient, handshakeRequest, messages, openWs, readResponse } from '../../../test/helpers.js';

const TIMINGS = ['sync', 'promise', 'observable', 'lateObservable'] as const;
const VERDICTS = ['allow', 'deny', 'unauthorized', 'crash'] as const;
type Timing = (typeof TIMINGS)[number];
type Verdict = (typeof VERDICTS)[number];
interface Step {
  timing: Timing;
  verdict: Verdict;
}

interface GuardedRequest {
  headers: Record<string, string | undefined>;
  /** The guards that ran, in order, and what each saw of the ones before. */
  seen?: string[];
  user?: string;
}

/** The guards of this handshake ran here, by index, with the class and handler their context named. */
let ran: Array<{ index: number; seen: string; type: string; target: string }> = [];

/** Guard `index` does what `x-guards` says for it (`timing:verdict`, comma-separated). */
function guard(index: number): CanActivate {
  return {
    canActivate(context: ExecutionContext) {
      if (context.getType() !== 'http') return true;
      const request = context.switchToHttp().getRequest<GuardedRequest>();
      const [timing, verdict] = (request.headers['x-guards'] ?? '').split(',')[index]!.split(':') as [Timing, Verdict];
      const handler = context.getHandler() as { name?: string };
      ran.push({
        index,
        seen: (request.seen ?? []).join(''),
        type: context.getType(),
        target: `${context.getClass().name}.${handler.name}`,
      });
      (request.seen ??= []).push(String(index));
      const decide = (): boolean => {
        if (verdict === 'unauthorized') throw new UnauthorizedException(`guard ${index} says who are you`);
        if (verdict === 'crash') throw new Error(`guard ${index} broke`);
        if (verdict === 'allow') request.user = `user of ${index}`;
        return verdict === 'allow';
      };
      if (timing === 'sync') return decide();
      if (timing === 'promise') return Promise.resolve().then(decide);
      if (timing === 'lateObservable')
        return new Observable<boolean>((subscriber) => {
          const timer = setTimeout(() => {
            try {
              subscriber.next(decide());
              subscriber.complete();
            } catch (error) {
              subscriber.error(error);
            }
          }, 1);
          return () => clearTimeout(timer);
        });
      try {
        return of(decide());
      } catch (error) {
        return throwError(() => error);
      }
    },
  };
}

@UseGuards(guard(0), guard(1))
// A guard's crash is a 500 and goes to the `error` hook, quietly here.
@WebSocketGateway({ path: '/guarded', error: () => {} })
class FirstGateway {
  @UseGuards(guard(2))
  handleConnection(): void {}

  @SubscribeMessage('whoami')
  whoami(@ConnectedSocket() ws: Connection<{ user: string }>) {
    return { event: 'whoami', data: ws.context.user };
  }
}

@UseGuards(guard(3))
@WebSocketGateway({ path: '/guarded', error: () => {} })
class SecondGateway {}

@Module({ providers: [FirstGateway, SecondGateway] })
class GuardedModule {}

/** What the handshake answers after `steps`: the first that is not `allow` decides. */
function expected(steps: Step[]): { status: number; ran: number } {
  const first = steps.findIndex((step) => step.verdict !== 'allow');
  if (first === -1) return { status: 101, ran: steps.length };
  const status = { allow: 101, deny: 403, unauthorized: 401, crash: 500 }[steps[first]!.verdict];
  return { status, ran: first + 1 };
}

for (const platform of ['express', 'fastify'] as const) {
  describe(`handshake guards on platform-${platform}`, () => {
    let app: INestApplication;
    let port: number;
    beforeAll(async () => {
      app = await NestFactory.create(
        GuardedModule,
        platform === 'express' ? new ExpressAdapter() : new FastifyAdapter(),
        { logger: false },
      );
      app.useWebSocketAdapter(new SwitchyardAdapter(app));
      await app.listen(0, '127.0.0.1');
      port = (app.getHttpServer().address() as { port: number }).port;
    });
    afterAll(() => app.close());

    it('run in order over both gateways, whatever each answers with; the first no answers, the rest never run', async () => {
      const step = fc.record({ timing: fc.constantFrom(...TIMINGS), verdict: fc.constantFrom(...VERDICTS) });
      await fc.assert(
        fc.asyncProperty(fc.array(step, { minLength: 4, maxLength: 4 }), async (steps) => {
          ran = [];
          const header = steps.map(({ timing, verdict }) => `${timing}:${verdict}`).join(',');
          const want = expected(steps);
          const client = await RawClient.connect(port);
          client.write(handshakeRequest('/guarded', { 'X-Guards': header }));
          const response = await readResponse(client);
          client.destroy();
          expect(response.status).toBe(want.status);
          if (want.status === 401) expect(response.body).toContain(`guard ${want.ran - 1} says who are you`);
          expect(ran.map(({ index }) => index)).toEqual([0, 1, 2, 3].slice(0, want.ran));
          // Each guard saw what the ones before it set on the request.
          expect(ran.map(({ seen }) => seen)).toEqual(['', '0', '01', '012'].slice(0, want.ran));
          expect(ran.map(({ type }) => type)).toEqual(Array(want.ran).fill('http'));
          expect(ran.map(({ target }) => target)).toEqual(
            [
              'FirstGateway.handleConnection',
              'FirstGateway.handleConnection',
              'FirstGateway.handleConnection',
              'SecondGateway.SecondGateway',
            ].slice(0, want.ran),
          );
        }),
        { numRuns: 40, seed: 20261208 },
      );
    });

    it("what the last guard set as request.user is the connection's context, whatever the guards answered with", async () => {
      for (const timing of TIMINGS) {
        const header = Array(4).fill(`${timing}:allow`).join(',');
        const ws = await openWs(`ws://127.0.0.1:${port}/guarded`, [], { headers: { 'x-guards': header } });
        const inbox = messages(ws);
        ws.send(JSON.stringify({ event: 'whoami' }));
        expect(JSON.parse((await inbox.next()).data.toString())).toEqual({ event: 'whoami', data: 'user of 3' });
        ws.close();
      }
    });
  });
}
