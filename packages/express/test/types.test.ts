import express from 'express';
import { describe, expect, expectTypeOf, it } from 'vitest';
import { createHub, reject, websocket } from '@switchyard/express';
import type {
  CloseEvent,
  Connection,
  Hub,
  HubStats,
  RequestInfo,
  UpgradeRequest,
  WebSocketMiddleware,
} from '@switchyard/express';

// These checks run at compile time (`pnpm typecheck`); the test bodies only build middleware.
describe('public types', () => {
  it('types ws.context from what upgrade returns, with no cast', () => {
    const mw = websocket({
      upgrade(req) {
        expectTypeOf(req).toEqualTypeOf<UpgradeRequest>();
        if (!req.headers.authorization) throw reject(401);
        return { context: { user: 'ann', admin: false } };
      },
      open(ws) {
        expectTypeOf(ws.context).toEqualTypeOf<{ user: string; admin: boolean }>();
      },
      message(ws, data, isBinary) {
        expectTypeOf(ws).toEqualTypeOf<Connection<{ user: string; admin: boolean }>>();
        expectTypeOf(ws.context.user).toBeString();
        expectTypeOf(data).toEqualTypeOf<string | Buffer>();
        expectTypeOf(isBinary).toBeBoolean();
        // @ts-expect-error: not part of the context
        void ws.context.missing;
      },
      close(ws, event) {
        expectTypeOf(event).toEqualTypeOf<CloseEvent>();
        expectTypeOf(ws.context.admin).toBeBoolean();
      },
    });
    expectTypeOf(mw).toEqualTypeOf<WebSocketMiddleware<{ user: string; admin: boolean }>>();
    express().use('/x', mw);
  });

  it('async upgrade hooks infer the context too', () => {
    websocket({
      async upgrade() {
        await Promise.resolve();
        return { context: 42 };
      },
      message(ws) {
        expectTypeOf(ws.context).toEqualTypeOf<number>();
      },
    });
  });

  it('without an upgrade hook the context is undefined', () => {
    websocket({
      message(ws) {
        expectTypeOf(ws.context).toEqualTypeOf<undefined>();
      },
    });
  });

  it('types the connection API', () => {
    websocket((ws, req) => {
      expectTypeOf(req).toEqualTypeOf<RequestInfo>();
      expectTypeOf(ws.send).returns.toBeBoolean();
      expectTypeOf(ws.ping).returns.toEqualTypeOf<Promise<number>>();
      expectTypeOf(ws.readyState).toEqualTypeOf<0 | 1 | 2 | 3>();
      expectTypeOf(ws.protocol).toBeString();
      expectTypeOf(ws.bufferedAmount).toBeNumber();
      expectTypeOf(ws.request.query).toEqualTypeOf<Record<string, string | string[]>>();
      expectTypeOf(ws.request.origin).toEqualTypeOf<string | undefined>();
      ws.on('message', (data, isBinary) => {
        expectTypeOf(data).toEqualTypeOf<string | Buffer>();
        expectTypeOf(isBinary).toBeBoolean();
      });
      ws.on('close', (event) => expectTypeOf(event.code).toBeNumber());
      // @ts-expect-error: not an event of a connection
      ws.on('upgrade', () => {});
    });
  });

  it('types topics and the hub', () => {
    const hub = createHub();
    expectTypeOf(hub).toEqualTypeOf<Hub>();
    expectTypeOf(hub.publish).parameters.toEqualTypeOf<
      [topic: string, data: string | Buffer | ArrayBuffer | ArrayBufferView, except?: Connection<any>]
    >();
    expectTypeOf(hub.publish).returns.toEqualTypeOf<Promise<void>>();
    expectTypeOf(hub.subscriberCount('t')).toBeNumber();
    expectTypeOf(hub.stats).toEqualTypeOf<HubStats>();
    websocket({
      hub,
      open(ws) {
        ws.subscribe('room');
        expectTypeOf(ws.topics).toEqualTypeOf<ReadonlySet<string>>();
        expectTypeOf(ws.publish('room', 'hi')).toEqualTypeOf<Promise<void>>();
        expectTypeOf(ws.transport).toEqualTypeOf<'websocket' | 'sse'>();
      },
    });
    // @ts-expect-error: a hub is not a string
    expect(() => websocket({ hub: 'redis://x' })).toThrow(TypeError);
  });

  it('rejects option mistakes at compile time', () => {
    // The same mistakes are refused at run time too, for JavaScript users.
    // @ts-expect-error: heartbeat takes { interval, timeout } or false
    expect(() => websocket({ heartbeat: true })).toThrow(TypeError);
    // @ts-expect-error: protocols is a list or a function
    expect(() => websocket({ protocols: 'chat' })).toThrow(TypeError);
    // @ts-expect-error: an unknown option
    expect(() => websocket({ maxPaylod: 5 })).toThrow(/unknown option "maxPaylod"/);
    websocket({
      protocols: (offered, req) => {
        expectTypeOf(offered).toEqualTypeOf<string[]>();
        expectTypeOf(req).toEqualTypeOf<UpgradeRequest>();
        return offered[0];
      },
      origins: ['https://app.example'],
      maxPayload: 1024,
      compression: { threshold: 2048 },
      heartbeat: { interval: 1000, timeout: 500 },
      maxBufferedAmount: 1 << 20,
    });
  });

  it('types the fallback options: replayBytes, and owner(req) returning a string', () => {
    websocket({
      maxBufferedAmount: Infinity,
      fallback: {
        replayBytes: 1 << 20,
        owner(req) {
          expectTypeOf(req).toEqualTypeOf<UpgradeRequest>();
          return String(req.headers['x-user'] ?? '');
        },
      },
    });
    websocket({ fallback: { owner: async () => 'ann' } });
    // @ts-expect-error: owner names the client with a string
    expect(() => websocket({ fallback: { owner: 'ann' } })).toThrow(/"fallback.owner" must be a function/);
    // @ts-expect-error: an unknown fallback option
    expect(() => websocket({ fallback: { replayByte: 5 } })).toThrow(/unknown option "fallback.replayByte"/);
  });
});
