/**
 * The shared suites on NestJS, on platform-express (`nestjs`) and platform-fastify
 * (`nestjs-fastify`): each mount is a gateway class whose options are the mount's switchyard
 * handlers, with its guard and late writer as Nest middleware, its `user` set by a gateway guard,
 * and its page from a controller on the same path.
 */
import 'reflect-metadata';
import http from 'node:http';
import https from 'node:https';
import {
  type CanActivate,
  Controller,
  type ExecutionContext,
  Get,
  Header,
  type INestApplication,
  type MiddlewareConsumer,
  Module,
  type Type,
  UseGuards,
} from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ExpressAdapter } from '@nestjs/platform-express';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { WebSocketGateway } from '@nestjs/websockets';
import express from 'express';
import type { NextFunction, Request, Response } from 'express';
import { SwitchyardAdapter, routeUpgrades, shutdown } from '@switchyard/nestjs';
import type { Harness, Mount } from '../../../test/harness.js';

type Platform = 'express' | 'fastify';
/** On platform-fastify, Nest middleware (through @fastify/middie) gets Node's own request and response. */
type RawRequest = http.IncomingMessage & { originalUrl?: string };

/** Nest middleware in front of the gateway: the suite's guard answers with raw HTTP, or fails. */
function guardMiddleware(guard: NonNullable<Mount['guard']>) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const apply = (result: Awaited<ReturnType<typeof guard>>): void => {
      if (result instanceof Error) return next(result);
      if (result) {
        res
          .status(result.status)
          .set(result.headers ?? {})
          .type('text/plain')
          .send(result.body);
        return;
      }
      next();
    };
    const result = guard({ url: req.originalUrl, headers: req.headers });
    if (result instanceof Promise) result.then(apply, next);
    else apply(result);
  };
}

/** The same guard on platform-fastify, answering on Node's response. */
function rawGuardMiddleware(guard: NonNullable<Mount['guard']>) {
  return (req: RawRequest, res: http.ServerResponse, next: (error?: unknown) => void): void => {
    const apply = (result: Awaited<ReturnType<typeof guard>>): void => {
      if (result instanceof Error) return next(result);
      if (result) {
        const body = result.body ?? '';
        res.writeHead(result.status, {
          ...result.headers,
          'content-type': 'text/plain',
          'content-length': Buffer.byteLength(body),
        });
        res.end(body);
        return;
      }
      next();
    };
    const result = guard({ url: req.originalUrl ?? req.url ?? '/', headers: req.headers });
    if (result instanceof Promise) result.then(apply, next);
    else apply(result);
  };
}

/**
 * Lets the request through, then answers anyway on Node's response, where a late Express
 * `res.send()` would write (Fastify drops a late `reply.send()` once the reply is hijacked).
 */
function rawLateWriter({ kind, ms }: NonNullable<Mount['lateWrite']>) {
  return (_req: RawRequest, res: http.ServerResponse, next: () => void): void => {
    next();
    setTimeout(() => {
      res.writeHead(kind === 'send' ? 503 : 500, { 'content-type': 'text/plain' });
      res.end(kind === 'send' ? 'late' : 'late failure');
    }, ms);
  };
}

function lateWriter({ kind, ms }: NonNullable<Mount['lateWrite']>) {
  return (_req: Request, res: Response, next: NextFunction): void => {
    next();
    setTimeout(() => (kind === 'send' ? res.status(503).send('late') : next(new Error('late failure'))), ms);
  };
}

/** A gateway guard that sets `request.user`, as Passport's guards do. */
function userGuard(user: string): CanActivate {
  return {
    canActivate(context: ExecutionContext): boolean {
      if (context.getType() === 'http') context.switchToHttp().getRequest<{ user?: string }>().user = user;
      return true;
    },
  };
}

function gateway(mount: Mount, index: number): Type<unknown> {
  const options =
    typeof mount.handlers === 'function'
      ? { path: mount.path, listener: mount.handlers }
      : { ...mount.handlers, path: mount.path };
  const Gateway = class {};
  Object.defineProperty(Gateway, 'name', { value: `Gateway${index}` });
  WebSocketGateway(options)(Gateway);
  if (mount.user !== undefined) UseGuards(userGuard(mount.user))(Gateway);
  return Gateway;
}

function pageController(path: string, page: string, index: number): Type<unknown> {
  const Page = class {
    page(): string {
      return page;
    }
  };
  Object.defineProperty(Page, 'name', { value: `Page${index}` });
  const page_ = Object.getOwnPropertyDescriptor(Page.prototype, 'page')!;
  Get(path)(Page.prototype, 'page', page_);
  // Express's `res.send(string)` says text/html; Fastify's says text/plain: the suites' pages are HTML.
  Header('Content-Type', 'text/html; charset=utf-8')(Page.prototype, 'page', page_);
  Controller()(Page);
  return Page;
}

/** The app module of `mounts`: gateways, page controllers, and middleware per path. */
export function appModule(mounts: Mount[], platform: Platform = 'express'): Type<unknown> {
  const raw = platform === 'fastify';
  const AppModule = class {
    configure(consumer: MiddlewareConsumer): void {
      for (const mount of mounts) {
        const chain = [
          ...(mount.guard ? [raw ? rawGuardMiddleware(mount.guard) : guardMiddleware(mount.guard)] : []),
          ...(mount.lateWrite ? [raw ? rawLateWriter(mount.lateWrite) : lateWriter(mount.lateWrite)] : []),
        ];
        if (chain.length > 0) consumer.apply(...chain).forRoutes(mount.path);
      }
    }
  };
  Module({
    providers: mounts.map(gateway),
    controllers: mounts.flatMap((mount, index) =>
      mount.page === undefined ? [] : [pageController(mount.path, mount.page, index)],
    ),
  })(AppModule);
  return AppModule;
}

export const nestjsHarness: Harness = {
  name: 'nestjs',
  async createServer(mounts, options = {}) {
    const instance = express();
    if (options.trustProxy) instance.set('trust proxy', true);
    const adapter = new ExpressAdapter(instance);
    const app = await NestFactory.create(appModule(mounts), adapter, { logger: false, bodyParser: false });
    // The suites' server settings (TLS, header limits) on a server of their own, which the app serves.
    const server = options.https
      ? https.createServer({ ...options.server, ...options.https }, instance)
      : http.createServer(options.server ?? {}, instance);
    adapter.setHttpServer(server);
    app.useWebSocketAdapter(new SwitchyardAdapter(app));
    await app.init();
    return server;
  },
  shutdown: (server) => shutdown(server),
  coexist: (server) => routeUpgrades(server),
};

const fastifyApps = new WeakMap<http.Server, INestApplication>();

export const nestjsFastifyHarness: Harness = {
  name: 'nestjs-fastify',
  async createServer(mounts, options = {}) {
    let server: http.Server | undefined;
    const adapter = new FastifyAdapter({
      trustProxy: options.trustProxy === true,
      // The suites' server settings (TLS, header limits) on a server of their own.
      serverFactory: (handler: http.RequestListener) => {
        server = options.https
          ? https.createServer({ ...options.server, ...options.https }, handler)
          : http.createServer(options.server ?? {}, handler);
        return server;
      },
    });
    const app = await NestFactory.create(appModule(mounts, 'fastify'), adapter, { logger: false });
    app.useWebSocketAdapter(new SwitchyardAdapter(app));
    await app.init();
    await adapter.getInstance().ready();
    fastifyApps.set(server!, app);
    return server!;
  },
  // app.close(): 1001 to every client, handleDisconnect awaited; Fastify closes only a server it
  // listened on itself, so the suite's own server.close() afterwards stays safe.
  shutdown: (server) => fastifyApps.get(server)!.close(),
  coexist: (server) => routeUpgrades(server),
  // Fastify routes by method: a method the gateway's route does not declare is its 404.
  unroutedMethodStatus: 404,
};
