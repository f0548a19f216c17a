// A user's NestJS app in plain ESM JavaScript (decorators applied as functions): a gateway at
// /echo whose class guard refuses a missing token with 401 before the 101, and an `echo` handler.
// It prints its port as one JSON line; SIGTERM closes it.
import 'reflect-metadata';
import { Module, UnauthorizedException, UseGuards } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { MessageBody, SubscribeMessage, WebSocketGateway } from '@nestjs/websockets';
import { SwitchyardAdapter } from '@switchyard/nestjs';

const guard = {
  canActivate(context) {
    if (context.getType() === 'ws') return true;
    if (context.switchToHttp().getRequest().query.token !== 'letmein') throw new UnauthorizedException();
    return true;
  },
};
class EchoGateway {
  echo(data) {
    return { event: 'echo', data };
  }
}
MessageBody()(EchoGateway.prototype, 'echo', 0);
SubscribeMessage('echo')(EchoGateway.prototype, 'echo', Object.getOwnPropertyDescriptor(EchoGateway.prototype, 'echo'));
UseGuards(guard)(EchoGateway);
WebSocketGateway({ path: '/echo', protocols: ['chat'] })(EchoGateway);
class AppModule {}
Module({ providers: [EchoGateway] })(AppModule);

const app = await NestFactory.create(AppModule, { logger: false });
app.useWebSocketAdapter(new SwitchyardAdapter(app));
await app.listen(0, '127.0.0.1');
process.stdout.write(`${JSON.stringify({ nestjs: app.getHttpServer().address().port })}\n`);
process.once('SIGTERM', () => app.close());
