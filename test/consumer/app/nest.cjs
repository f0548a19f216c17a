// The NestJS app of nest.mjs, in CommonJS: require() of @switchyard/nestjs (an ES module).
require('reflect-metadata');
const { Module, UnauthorizedException, UseGuards } = require('@nestjs/common');
const { NestFactory } = require('@nestjs/core');
const { MessageBody, SubscribeMessage, WebSocketGateway } = require('@nestjs/websockets');
const { SwitchyardAdapter } = require('@switchyard/nestjs');

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

(async () => {
  const app = await NestFactory.create(AppModule, { logger: false });
  app.useWebSocketAdapter(new SwitchyardAdapter(app));
  await app.listen(0, '127.0.0.1');
  process.stdout.write(`${JSON.stringify({ nestjs: app.getHttpServer().address().port })}\n`);
  process.once('SIGTERM', () => app.close());
})();
