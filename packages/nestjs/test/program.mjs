// The suites' child programs (test/adversarial/server.mjs, test/recovery/node.mjs,
// test/fallback/memory-server.mjs) on NestJS: one gateway class per path, whose options are the
// program's switchyard handlers (`{ listener, ...options }` for a Faye-style listener), on
// platform-express. `before(app)` adds Express middleware and routes ahead of the gateways.
import 'reflect-metadata';
import http from 'node:http';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ExpressAdapter } from '@nestjs/platform-express';
import { WebSocketGateway } from '@nestjs/websockets';
import express from 'express';
import { SwitchyardAdapter } from '@switchyard/nestjs';

export async function nestServer(gateways, { before, after } = {}) {
  const instance = express();
  before?.(instance);
  const providers = Object.entries(gateways).map(([path, handlers], index) => {
    const Gateway = class {};
    Object.defineProperty(Gateway, 'name', { value: `Gateway${index}` });
    WebSocketGateway({ ...handlers, path })(Gateway);
    return Gateway;
  });
  const AppModule = class {};
  Module({ providers })(AppModule);
  const adapter = new ExpressAdapter(instance);
  const app = await NestFactory.create(AppModule, adapter, { logger: false, bodyParser: false });
  const server = http.createServer(instance);
  adapter.setHttpServer(server);
  app.useWebSocketAdapter(new SwitchyardAdapter(app));
  await app.init();
  after?.(instance);
  return server;
}
