// Hono on @switchyard/hono in TypeScript, compiled with `skipLibCheck: false` and the DOM library
// that hono's and @hono/node-server's own declarations name (tsconfig.hono.json). The same file is
// compiled twice: as ESM here, and as CommonJS from ts-hono-cjs/ (run.mjs copies it there, where
// package.json says commonjs), so it uses neither top-level await nor import.meta.
// The `@ts-expect-error` lines fail the compile if the types they check turn into `any`: a
// route's context (Variables, a validator's output), `ws.context` from `upgrade`, and the `$ws`
// that `hc` gives WebSocket routes only.
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import type { Context } from 'hono';
import { hc } from 'hono/client';
import { validator } from 'hono/validator';
import { shutdown, upgradeWebSocket, websocket } from '@switchyard/hono';
import type { Connection, HonoSide, WSContext } from '@switchyard/hono';

type Env = { Variables: { user: string } };

function listen(server: Server): Promise<number> {
  return new Promise((resolve) => server.once('listening', () => resolve((server.address() as AddressInfo).port)));
}

const app = new Hono<Env>()
  .get('/', (c) => c.text('home'))
  // Hono middleware answers before the 101: no token, a real 401.
  .use('/echo', async (c, next) => {
    if (c.req.query('token') !== 'letmein') return c.text('Unauthorized', 401, { 'WWW-Authenticate': 'Bearer' });
    c.set('user', 'ann');
    await next();
  })
  .get(
    '/echo',
    upgradeWebSocket(
      // As with hono/ws's upgradeWebSocket, createEvents' `c` is annotated to read the app's Variables.
      (c: Context<Env>) => ({
        onMessage(event, ws: WSContext<Connection<HonoSide>>) {
          const user: string = c.get('user');
          // @ts-expect-error the variable is a string
          const wrong: number = c.get('user');
          void wrong;
          ws.send(`${user}: ${String(event.data)}`);
        },
      }),
      { protocols: ['chat'] },
    ),
  )
  // The direct form, behind a validator whose output the handler reads with its type.
  .get(
    '/rooms/:id',
    validator('query', (value) => ({ name: typeof value.name === 'string' ? value.name : 'guest' })),
    (c) => {
      const { name } = c.req.valid('query');
      // @ts-expect-error the validator returned no `age`
      void c.req.valid('query').age;
      return upgradeWebSocket(
        c,
        { onOpen: (_event, ws) => ws.send(`${name} in ${c.req.param('id')}`) },
        { protocols: ['chat'] },
      );
    },
  )
  // switchyard's own handler object: `ws.context` is typed from what `upgrade` returns.
  .all(
    '/own/:room',
    websocket({
      protocols: ['chat'],
      upgrade: (req) => ({ context: { room: req.params.room ?? '' } }),
      message(ws, data) {
        const room: string = ws.context.room;
        // @ts-expect-error no such field in the context
        void ws.context.user;
        ws.send(`${room}: ${data.toString()}`);
      },
    }),
  );

async function main(): Promise<void> {
  const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }) as Server;
  const port = await listen(server);

  // A typed client: URLs from the routes' inputs, and `$ws` on WebSocket routes only.
  const client = hc<typeof app>(`http://127.0.0.1:${port}`);
  const room: URL = client.rooms[':id'].$url({ param: { id: 'lobby' }, query: { name: 'ann' } });
  const echo: URL = client.echo.$url();
  const openEcho: (args?: object) => WebSocket = client.echo.$ws;
  const openRoom = client.rooms[':id'].$ws;
  void openEcho;
  void openRoom;
  // @ts-expect-error a text route has no $ws
  void client.index.$ws;
  // @ts-expect-error the room route wants its query
  client.rooms[':id'].$url({ param: { id: 'lobby' }, query: { nick: 'ann' } });

  console.log(JSON.stringify({ hono: port, paths: [echo.pathname, `${room.pathname}${room.search}`] }));

  process.once('SIGTERM', () => {
    void shutdown(server).then(() => server.close());
  });
}

void main();
