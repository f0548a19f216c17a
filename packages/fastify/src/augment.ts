/**
 * The types @switchyard/fastify adds to Fastify: the `websocket` route option, typed route
 * overloads whose `Context` follows from the `upgrade` hook, and `fastify.injectWS()`. Type
 * plumbing only; index.ts imports it so that every import of the package brings it along.
 */
import type {
  ContextConfigDefault,
  FastifyInstance,
  FastifySchema,
  RouteGenericInterface,
  RouteHandlerMethod,
  RouteOptions,
} from 'fastify';
import type WebSocket from 'ws';
import type { ConnectionListener, Handlers, InjectOptions } from '@switchyard/core';

/** What the `websocket` route option accepts: handlers, or a faye-style connection function. */
export type WebSocketRouteOption<Context = any> = Handlers<Context, any, any> | ConnectionListener;

/** Options of `fastify.injectWS()`. */
export type InjectWSOptions = InjectOptions;

declare module 'fastify' {
  interface RouteShorthandOptions<
    RawServer,
    RawRequest,
    RawReply,
    RouteGeneric,
    ContextConfig,
    SchemaCompiler,
    TypeProvider,
    Logger,
  > {
    /** Makes this GET route accept WebSocket upgrades; plain GETs still reach its handler. */
    websocket?: WebSocketRouteOption;
  }

  interface RouteShorthandMethod<RawServer, RawRequest, RawReply, TypeProvider, Logger> {
    /** A WebSocket route: `Context` follows from what `upgrade` returns. Without a handler, plain GETs get 426. */
    <
      Context = undefined,
      RouteGeneric extends RouteGenericInterface = RouteGenericInterface,
      ContextConfig = ContextConfigDefault,
      const SchemaCompiler extends FastifySchema = FastifySchema,
      MessageSchema = undefined,
      OutgoingSchema = undefined,
    >(
      path: string,
      opts: Omit<
        RouteShorthandOptions<
          RawServer,
          RawRequest,
          RawReply,
          RouteGeneric,
          ContextConfig,
          SchemaCompiler,
          TypeProvider,
          Logger
        >,
        'websocket'
      > & { websocket: Handlers<Context, MessageSchema, OutgoingSchema> | ConnectionListener },
      handler?: RouteHandlerMethod<
        RawServer,
        RawRequest,
        RawReply,
        RouteGeneric,
        ContextConfig,
        SchemaCompiler,
        TypeProvider,
        Logger
      >,
    ): FastifyInstance<RawServer, RawRequest, RawReply, Logger, TypeProvider>;
  }

  interface FastifyInstance<RawServer, RawRequest, RawReply, Logger, TypeProvider> {
    /** A WebSocket route: `Context` follows from what `upgrade` returns. Without a handler, plain GETs get 426. */
    route<
      Context = undefined,
      RouteGeneric extends RouteGenericInterface = RouteGenericInterface,
      ContextConfig = ContextConfigDefault,
      const SchemaCompiler extends FastifySchema = FastifySchema,
      MessageSchema = undefined,
      OutgoingSchema = undefined,
    >(
      opts: Omit<
        RouteOptions<
          RawServer,
          RawRequest,
          RawReply,
          RouteGeneric,
          ContextConfig,
          SchemaCompiler,
          TypeProvider,
          Logger
        >,
        'websocket' | 'handler'
      > & {
        websocket: Handlers<Context, MessageSchema, OutgoingSchema> | ConnectionListener;
        handler?: RouteHandlerMethod<
          RawServer,
          RawRequest,
          RawReply,
          RouteGeneric,
          ContextConfig,
          SchemaCompiler,
          TypeProvider,
          Logger
        >;
      },
    ): FastifyInstance<RawServer, RawRequest, RawReply, Logger, TypeProvider>;

    /**
     * Opens a WebSocket to `path` in process, without listening on a port: the handshake runs
     * through every hook like a real one. Rejects with the status when the server answers HTTP.
     */
    injectWS(path?: string, options?: InjectWSOptions): Promise<WebSocket>;
  }
}
