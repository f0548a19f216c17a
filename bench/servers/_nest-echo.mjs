/**
 * The Nest app both Nest rows serve (switchyard-nestjs.mjs, nestjs-ws.mjs): platform-express
 * behind one ordinary middleware, an echo gateway on /echo whose handler sends the frame back
 * through `@ConnectedSocket()` (a frame is `{ event: 'echo', data: <the frame> }` by the message
 * parser, so that the bytes come back unchanged), a broadcast gateway on /sub, and GET /http.
 * Decorators are applied as functions: this is plain JavaScript.
 */
import 'reflect-metadata';
import { Controller, Get, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ExpressAdapter } from '@nestjs/platform-express';
import { ConnectedSocket, MessageBody, SubscribeMessage, WebSocketGateway } from '@nestjs/websockets';
import express from 'express';

/** Every frame is an `echo` event carrying the frame itself, on both adapters. */
export const echoParser = (data) => ({ event: 'echo', data });

function method(target, name, ...decorators) {
  const descriptor = Object.getOwnPropertyDescriptor(target.prototype, name);
  for (const decorate of decorators) decorate(target.prototype, name, descriptor);
}

/** Starts the app with `adapterOf(app)` as its WebSocket adapter; `onSubscribe` sees /sub's clients. */
export async function nestEchoApp(adapterOf, { onSubscribe, onUnsubscribe }) {
  class EchoGateway {
    echo(data, client) {
      client.send(data);
    }
  }
  method(EchoGateway, 'echo', SubscribeMessage('echo'));
  MessageBody()(EchoGateway.prototype, 'echo', 0);
  ConnectedSocket()(EchoGateway.prototype, 'echo', 1);
  WebSocketGateway({ path: '/echo' })(EchoGateway);

  class SubGateway {
    handleConnection(client) {
      onSubscribe(client);
    }
    handleDisconnect(client) {
      onUnsubscribe?.(client);
    }
  }
  WebSocketGateway({ path: '/sub' })(SubGateway);

  class HttpController {
    http() {
      return 'ok';
    }
  }
  method(HttpController, 'http', Get('http'));
  Controller()(HttpController);

  class AppModule {}
  Module({ controllers: [HttpController], providers: [EchoGateway, SubGateway] })(AppModule);

  const instance = express();
  instance.use(function tagUser(_req, res, next) {
    res.locals.user = 'bench';
    next();
  });
  const app = await NestFactory.create(AppModule, new ExpressAdapter(instance), { logger: false, bodyParser: false });
  app.useWebSocketAdapter(adapterOf(app));
  await app.init();
  return app.getHttpServer();
}
