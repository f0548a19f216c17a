import Fastify from 'fastify';
import { describe, expectTypeOf, it } from 'vitest';
import { type } from 'arktype';
import * as v from 'valibot';
import { z } from 'zod';
import websocket from '@switchyard/fastify';
import type { StandardSchemaV1 } from '@switchyard/fastify';

// Compile-time checks (`pnpm typecheck`): `msg` follows the schema, `ws.send` the outgoing one.
describe('schema types (fastify)', () => {
  it('infers msg from zod, valibot and arktype schemas in route options', async () => {
    const app = Fastify();
    await app.register(websocket);
    app.get('/zod', {
      websocket: {
        schema: z.object({ room: z.string(), n: z.number() }),
        message(ws, msg) {
          expectTypeOf(msg).toEqualTypeOf<{ room: string; n: number }>();
          // @ts-expect-error: not in the schema
          void msg.missing;
          // @ts-expect-error: without an outgoing schema, objects are not sendable
          ws.send({ any: 'object' });
        },
      },
    });
    app.get('/valibot', {
      websocket: {
        schema: v.object({ kind: v.picklist(['a', 'b']) }),
        message(_ws, msg) {
          expectTypeOf(msg).toEqualTypeOf<{ kind: 'a' | 'b' }>();
        },
      },
    });
    app.route({
      method: 'GET',
      url: '/arktype',
      websocket: {
        upgrade: () => ({ context: { user: 'ann' } }),
        schema: type({ id: 'number' }),
        outgoing: type({ ok: 'boolean' }),
        async open(ws) {
          for await (const { data } of ws) expectTypeOf(data).toEqualTypeOf<{ id: number }>();
        },
        message(ws, msg) {
          expectTypeOf(msg).toEqualTypeOf<{ id: number }>();
          expectTypeOf(ws.context).toEqualTypeOf<{ user: string }>();
          ws.send({ ok: true });
          // @ts-expect-error: `ok` must be a boolean
          ws.send({ ok: 'yes' });
        },
        invalid(_ws, issues) {
          expectTypeOf(issues).toEqualTypeOf<ReadonlyArray<StandardSchemaV1.Issue>>();
        },
      },
    });
    app.get('/plain', {
      websocket: {
        message(_ws, data) {
          expectTypeOf(data).toEqualTypeOf<string | Buffer>();
        },
      },
    });
    await app.ready();
    await app.close();
  });
});
