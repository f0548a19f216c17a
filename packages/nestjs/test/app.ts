/** A Nest app for the adapter's own tests: one guarded gateway, on either platform. */
import 'reflect-metadata';
import {
  type CanActivate,
  Controller,
  type ExecutionContext,
  Get,
  Injectable,
  type INestApplication,
  Module,
  type Type,
  UnauthorizedException,
  UseGuards,
} from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ExpressAdapter } from '@nestjs/platform-express';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { WsAdapter } from '@nestjs/platform-ws';
import {
  ConnectedSocket,
  MessageBody,
  SubscribeMessage,
  WebSocketGateway,
  WebSocketServer,
  WsException,
} from '@nestjs/websockets';
import { from, map } from 'rxjs';
import type { Connection } from '@switchyard/core';
import { SwitchyardAdapter, type SwitchyardAdapterOptions, type SwitchyardServer } from '@switchyard/nestjs';

/** Decides the handshake from `x-token`: missing 401, `no` 403, else the user. */
@Injectable()
export class TokenGuard implements CanActivate {
  static seen: string[] = [];
  canActivate(context: ExecutionContext): boolean {
    // Per message, Nest runs class guards again with the connection; the handshake decided already.
    if (context.getType() === 'ws') return true;
    const request = context
      .switchToHttp()
      .getRequest<{ headers: Record<string, string>; url: string; user?: string }>();
    TokenGuard.seen.push(request.url);
    const token = request.headers['x-token'];
    if (token === undefined) throw new UnauthorizedException('token required');
    if (token === 'no') return false;
    request.user = token;
    return true;
  }
}

@UseGuards(TokenGuard)
@WebSocketGateway({ path: '/chat', protocols: ['chat'] })
export class ChatGateway {
  @WebSocketServer() server!: SwitchyardServer;
  static events: string[] = [];

  // `?.`: test/peers.test.ts also serves this gateway on @nestjs/platform-ws, whose client is a
  // `ws` WebSocket with no context; there a throw here would be an uncaught exception.
  handleConnection(ws: Connection<{ user: string }>): void {
    ChatGateway.events.push(`connect ${ws.context?.user}`);
  }

  handleDisconnect(ws: Connection<{ user: string }>): void {
    ChatGateway.events.push(`disconnect ${ws.context?.user}`);
  }

  @SubscribeMessage('echo')
  echo(@MessageBody() data: unknown): { event: string; data: unknown } {
    return { event: 'echo', data };
  }

  @SubscribeMessage('whoami')
  whoami(@ConnectedSocket() ws: Connection<{ user: string }>): { event: string; data: unknown } {
    return { event: 'whoami', data: ws.context.user };
  }

  @SubscribeMessage('count')
  count(@MessageBody() n: number) {
    return from(Array.from({ length: n }, (_, i) => i + 1)).pipe(map((i) => ({ event: 'count', data: i })));
  }

  @SubscribeMessage('later')
  async later(@MessageBody() data: string): Promise<{ event: string; data: string }> {
    return { event: 'later', data };
  }

  @SubscribeMessage('fail')
  fail(): never {
    throw new WsException('no such room');
  }

  @SubscribeMessage('crash')
  crash(): never {
    throw new Error('bug');
  }
}

@Controller()
export class PageController {
  @Get('page')
  page(): string {
    return 'a page';
  }
}

@Module({ controllers: [PageController], providers: [ChatGateway, TokenGuard] })
export class ChatModule {}

/** Says no to everyone: on the handshake here, per message on @nestjs/platform-ws. */
@Injectable()
export class DenyGuard implements CanActivate {
  canActivate(): boolean {
    return false;
  }
}

@UseGuards(DenyGuard)
@WebSocketGateway({ path: '/denied' })
export class DeniedGateway {
  @SubscribeMessage('echo')
  echo(@MessageBody() data: unknown): { event: string; data: unknown } {
    return { event: 'echo', data };
  }
}

/** The gateways as an app moving from @nestjs/platform-ws would have them (test/peers.test.ts). */
@Module({ controllers: [PageController], providers: [ChatGateway, TokenGuard, DeniedGateway, DenyGuard] })
export class PeerModule {}

export type Platform = 'express' | 'fastify';

/** The app on `platform`, listening on 127.0.0.1, port 0. */
export async function startApp(
  platform: Platform,
  options?: SwitchyardAdapterOptions,
  module: unknown = ChatModule,
  ws: 'switchyard' | 'platform-ws' = 'switchyard',
): Promise<{ app: INestApplication; port: number }> {
  const app: INestApplication = await NestFactory.create(
    module as Type<unknown>,
    platform === 'express' ? new ExpressAdapter() : new FastifyAdapter(),
    { logger: false },
  );
  app.useWebSocketAdapter(ws === 'switchyard' ? new SwitchyardAdapter(app, options) : new WsAdapter(app));
  await app.listen(0, '127.0.0.1');
  const address = app.getHttpServer().address() as { port: number };
  return { app, port: address.port };
}
