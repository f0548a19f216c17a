// The suites' child programs (test/adversarial/server.mjs, test/recovery/node.mjs,
// test/fallback/memory-server.mjs) on NestJS: one gateway class per path, whose options are the
// program's switchyard handlers (`{ listener, ...options }` for a Faye-style listener), on
// platform-express, or platform-fastify with `platform: 'fastify'`. `before(instance)` adds the
// framework's own middleware, hooks and routes (on the Express app or the Fastify instance) ahead
// of the gateways. The server is returned ready, not listening.
import 'reflect-metadata';
import http from 'node:http';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { WebSocketGateway } from '@nestjs/websockets';
import { SwitchyardAdapter } from '@switchyard/nestjs';

/** The adapter name the suites give a child program: `nestjs` or `nestjs-fastify`. */
export const platformOf = (adapter) => (adapter === 'nestjs-fastify' ? 'fastify' : 'express');

function appModule(gateways) {
  const providers = Object.entries(gateways).map(([path, handlers], index) => {
    const Gateway = class {};
    Object.defineProperty(Gateway, 'name', { value: `Gateway${index}` });
    WebSocketGateway({ ...handlers, path })(Gateway);
    return Gateway;
  });
  const AppModule = class {};
  Module({ providers })(AppModule);
  return AppModule;
}

export async function nestServer(gateways, { before, after, platform = 'express' } = {}) {
  if (platform === 'fastify') {
    const { FastifyAdapter } = await import('@nestjs/platform-fastify');
    let server;
    const adapter = new FastifyAdapter({ serverFactory: (handler) => (server = http.createServer(handler)) });
    before?.(adapter.getInstance());
    const app = await NestFactory.create(appModule(gateways), adapter, { logger: false, bodyParser: false });
    app.useWebSocketAdapter(new SwitchyardAdapter(app));
    await app.init();
    after?.(adapter.getInstance());
    await adapter.getInstance().ready();
    return server;
  }
  const { default: express } = await import('express');
  const { ExpressAdapter } = await import('@nestjs/platform-express');
  const instance = express();
  before?.(instance);
  const adapter = new ExpressAdapter(instance);
  const app = await NestFactory.create(appModule(gateways), adapter, { logger: false, bodyParser: false });
  const server = http.createServer(instance);
  adapter.setHttpServer(server);
  app.useWebSocketAdapter(new SwitchyardAdapter(app));
  await app.init();
  after?.(instance);
  return server;
}
