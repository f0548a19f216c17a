import { describe, expect, expectTypeOf, it } from 'vitest';
import { type } from 'arktype';
import * as v from 'valibot';
import { z } from 'zod';
import { websocket } from '@switchyard/express';
import type { Connection, EndpointStatsSnapshot, QueuedMessage, StandardSchemaV1 } from '@switchyard/express';

// Compile-time checks (`pnpm typecheck`): `msg` follows the schema, `ws.send` the outgoing one.
describe('schema types (express)', () => {
  it('infers msg from zod, valibot and arktype schemas', () => {
    websocket({
      schema: z.object({ room: z.string(), n: z.number() }),
      message(ws, msg) {
        expectTypeOf(msg).toEqualTypeOf<{ room: string; n: number }>();
        // @ts-expect-error: not in the schema
        void msg.missing;
        ws.send('text still works');
        // @ts-expect-error: without an outgoing schema, objects are not sendable
        ws.send({ any: 'object' });
      },
    });
    websocket({
      schema: v.object({ kind: v.picklist(['a', 'b']) }),
      message(_ws, msg) {
        expectTypeOf(msg).toEqualTypeOf<{ kind: 'a' | 'b' }>();
      },
    });
    websocket({
      schema: type({ id: 'number' }),
      message(_ws, msg) {
        expectTypeOf(msg).toEqualTypeOf<{ id: number }>();
      },
    });
    websocket({
      message(_ws, data) {
        expectTypeOf(data).toEqualTypeOf<string | Buffer>();
      },
    });
  });

  it('types ws.send from the outgoing schema, iteration from the schema, and keeps the context', () => {
    const mw = websocket({
      upgrade: () => ({ context: { user: 'ann' } }),
      schema: z.object({ say: z.string() }),
      outgoing: z.object({ from: z.string(), said: z.string() }),
      async open(ws) {
        expectTypeOf(ws.context).toEqualTypeOf<{ user: string }>();
        for await (const { data, isBinary } of ws) {
          expectTypeOf(data).toEqualTypeOf<{ say: string }>();
          expectTypeOf(isBinary).toBeBoolean();
        }
        expectTypeOf(ws.drain()).toEqualTypeOf<Promise<void>>();
      },
      message(ws, msg) {
        ws.send({ from: ws.context.user, said: msg.say });
        // @ts-expect-error: `said` must be a string
        ws.send({ from: 'x', said: 1 });
        expectTypeOf(ws.sendAsync({ from: 'x', said: 'y' })).toEqualTypeOf<Promise<boolean>>();
      },
      invalid(ws, issues, data) {
        expectTypeOf(issues).toEqualTypeOf<ReadonlyArray<StandardSchemaV1.Issue>>();
        expectTypeOf(data).toEqualTypeOf<string | Buffer>();
        ws.close(1007);
      },
    });
    expectTypeOf(mw.endpoint.stats()).toEqualTypeOf<EndpointStatsSnapshot>();
    expectTypeOf<QueuedMessage>().toEqualTypeOf<{ data: string | Buffer; isBinary: boolean }>();
    expectTypeOf<Connection>().toMatchTypeOf<AsyncIterable<QueuedMessage>>();
    expect(typeof mw).toBe('function');
  });
});
