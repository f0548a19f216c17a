// The NestJS app of nest.mjs in TypeScript, with Nest's decorators and the adapter's types.
import 'reflect-metadata';
import { Injectable, Module, UnauthorizedException, UseGuards } from '@nestjs/common';
import type { CanActivate, ExecutionContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ConnectedSocket, MessageBody, SubscribeMessage, WebSocketGateway } from '@nestjs/websockets';
import { SwitchyardAdapter } from '@switchyard/nestjs';
import type { Connection, SwitchyardGatewayOptions } from '@switchyard/nestjs';
import type { AddressInfo } from 'node:net';

@Injectable()
class TokenGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    if (context.getType() === 'ws') return true;
    if (context.switchToHttp().getRequest<{ query: { token?: string } }>().query.token !== 'letmein')
      throw new UnauthorizedException();
    return true;
  }
}

@UseGuards(TokenGuard)
@WebSocketGateway<SwitchyardGatewayOptions>({ path: '/echo', protocols: ['chat'], heartbeat: { interval: 30_000 } })
class EchoGateway {
  @SubscribeMessage('echo')
  echo(@MessageBody() data: unknown, @ConnectedSocket() ws: Connection): { event: string; data: unknown } {
    return { event: 'echo', data: ws.readyState === 1 ? data : null };
  }
}

@Module({ providers: [EchoGateway, TokenGuard] })
class AppModule {}

const app = await NestFactory.create(AppModule, { logger: false });
app.useWebSocketAdapter(new SwitchyardAdapter(app));
await app.listen(0, '127.0.0.1');
const { port } = app.getHttpServer().address() as AddressInfo;
process.stdout.write(`${JSON.stringify({ nestjs: port })}\n`);
process.once('SIGTERM', () => void app.close());
