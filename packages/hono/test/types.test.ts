import { Hono } from 'hono';
import type { Context } from 'hono';
import { hc } from 'hono/client';
import { validator } from 'hono/validator';
import type { UpgradeWebSocket, WSContext as HonoWSContext } from 'hono/ws';
import { describe, expectTypeOf, it } from 'vitest';
import type { serve } from '@hono/node-server';
import { createNodeWebSocket, upgradeWebSocket, websocket } from '@switchyard/hono';
import type {
  Connection,
  UpgradeWebSocketHandler,
  UpgradeWebSocketOptions,
  WSContext,
  WSMessageEvent,
  WebSocketMiddleware,
} from '@switchyard/hono';

// These checks run at compile time (`pnpm typecheck`); the test bodies only build apps.
describe('public types', () => {
  it("is hono/ws's UpgradeWebSocket, so that an app's import is all that changes", () => {
    expectTypeOf(upgradeWebSocket).toMatchTypeOf<UpgradeWebSocket<Connection<any>, UpgradeWebSocketOptions>>();
    // hono/ws's own WSContext fits the one handlers receive here.
    expectTypeOf<HonoWSContext<Connection<any>>>().toMatchTypeOf<WSContext<Connection<any>>>();
  });

  it("gives handlers Hono's events and a WSContext whose raw is the switchyard Connection", () => {
    new Hono().get(
      '/ws',
      upgradeWebSocket(
        (c) => {
          expectTypeOf(c).toMatchTypeOf<Context>();
          return {
            onOpen(event, ws) {
              expectTypeOf(event).toEqualTypeOf<Event>();
              expectTypeOf(ws).toMatchTypeOf<WSContext<Connection<any>>>();
              expectTypeOf(ws.raw).toMatchTypeOf<Connection<any> | undefined>();
              expectTypeOf(ws.protocol).toEqualTypeOf<string | null>();
            },
            onMessage(event, ws) {
              expectTypeOf(event).toEqualTypeOf<WSMessageEvent>();
              ws.send(event.data as string);
            },
            onClose(event, ws) {
              expectTypeOf(ws.readyState).toEqualTypeOf<0 | 1 | 2 | 3>();
              expectTypeOf(event.code).toBeNumber();
              expectTypeOf(event.wasClean).toBeBoolean();
            },
          };
        },
        { protocols: ['chat'], heartbeat: { interval: 10_000 }, maxPayload: 1024, onError: () => {} },
      ),
    );
    // Not called: core refuses the unknown option at run time too.
    void (() =>
      // @ts-expect-error: options are switchyard's endpoint options, checked
      upgradeWebSocket(() => ({}), { protocol: 'chat' }));
  });

  it("keeps a validator's types in front of it: c.req.valid() is typed in the direct form, as in any handler", () => {
    new Hono().get(
      '/rooms/:id',
      validator('query', (value) => ({ token: String(value.token) })),
      (c) => {
        expectTypeOf(c.req.valid('query')).toEqualTypeOf<{ token: string }>();
        expectTypeOf(c.req.param('id')).toEqualTypeOf<string>();
        return upgradeWebSocket(c, { onOpen: (_event, ws) => ws.send(c.req.valid('query').token) });
      },
    );
  });

  it("infers Hono's Env, path and input from an annotated createEvents, and hands them to the route", () => {
    type Input = { in: { query: { token: string } }; out: { query: { token: string } } };
    const app = new Hono<{ Variables: { user: string } }>().get(
      '/rooms/:id',
      validator('query', (value) => ({ token: String(value.token) })),
      upgradeWebSocket((c: Context<{ Variables: { user: string } }, '/rooms/:id', Input>) => {
        expectTypeOf(c.req.valid('query')).toEqualTypeOf<{ token: string }>();
        expectTypeOf(c.get('user')).toEqualTypeOf<string>();
        return {};
      }),
    );
    const client = hc<typeof app>('http://localhost:8787');
    expectTypeOf(client.rooms[':id'].$ws).toBeFunction();
  });

  it('keeps the route in the hc client: $ws() is there and opens a WebSocket', () => {
    const app = new Hono().get(
      '/ws',
      upgradeWebSocket(() => ({})),
    );
    const client = hc<typeof app>('http://localhost:8787');
    expectTypeOf(client.ws.$ws).toBeFunction();
    expectTypeOf<ReturnType<typeof client.ws.$ws>>().toEqualTypeOf<WebSocket>();
    expectTypeOf(upgradeWebSocket(() => ({}))).toMatchTypeOf<UpgradeWebSocketHandler>();
  });

  it("the direct form returns a Response Hono's typed routes accept", () => {
    new Hono().get('/ws', (c) => upgradeWebSocket(c, { onMessage: (event, ws) => ws.send(String(event.data)) }));
  });

  it("websocket() takes switchyard's handler object and infers ws.context", () => {
    const mw = websocket({
      upgrade: () => ({ context: { user: 'ann' } }),
      message(ws) {
        expectTypeOf(ws.context.user).toBeString();
      },
    });
    expectTypeOf(mw).toMatchTypeOf<WebSocketMiddleware<{ user: string }>>();
    new Hono().all('/x', mw);
  });

  it("createNodeWebSocket() gives this package's upgradeWebSocket, and its injectWebSocket takes what serve() returns", () => {
    const { upgradeWebSocket: upgrade, injectWebSocket } = createNodeWebSocket({ app: new Hono() });
    expectTypeOf(upgrade).toEqualTypeOf(upgradeWebSocket);
    expectTypeOf<ReturnType<typeof serve>>().toMatchTypeOf<Parameters<typeof injectWebSocket>[0]>();
  });
});
