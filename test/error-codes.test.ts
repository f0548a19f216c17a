/**
 * Every error switchyard's packages throw or reject with carries a stable `code`, and docs/errors.md
 * lists every code (issue 26, point 5). Two halves: a walk over the sources, so that a new throw
 * site without a code fails here, and a behaviour test per throw site of the published packages,
 * so that the code really is on the error the app catches.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import Fastify from 'fastify';
import { describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import { ErrorCode as ClientErrorCode, connect } from '@switchyard/client';
import { ErrorCode, createEndpoint, createHub, parseProtocols } from '@switchyard/core';
import websocket from '@switchyard/fastify';
import { redisHub } from '@switchyard/redis';

const root = new URL('..', import.meta.url).pathname;
const docs = readFileSync(join(root, 'docs/errors.md'), 'utf8');

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? sources(join(dir, entry.name)) : entry.name.endsWith('.ts') ? [join(dir, entry.name)] : [],
  );
}
const files = readdirSync(join(root, 'packages')).flatMap((name) => sources(join(root, 'packages', name, 'src')));

/** Error classes whose instances carry their own `code` field. */
const CODED_CLASSES = new Set(['HandshakeRejection', 'UsageError', 'RedisUnreachableError']);

/** Constructions that are not switchyard's errors, each with why. */
const NOT_OURS: ReadonlyArray<[file: string, pattern: RegExp, why: string]> = [
  // The app threw a non-Error; it is wrapped to reach the `error` hook and stays the app's.
  ['', /error instanceof Error \? error : new Error\($/, "the app's own throw"],
  // The coding helper itself.
  ['client/src/errors.ts', /Object\.defineProperty\(new TypeError\($/, 'codedTypeError'],
  // Caught a few lines further on: the transport ends with 1002 and the message as its reason.
  ['client/src/sse-transport.ts', /throw new SyntaxError\($/, 'caught by the event reader'],
];

describe('every throw site carries a code (a walk over packages/*/src)', () => {
  const sites: Array<{ where: string; before: string; className: string }> = [];
  for (const file of files) {
    const text = readFileSync(file, 'utf8');
    for (const match of text.matchAll(/new (\w*Error|HandshakeRejection)\(/g)) {
      const line = text.slice(0, match.index).split('\n').length;
      const before = text.slice(Math.max(0, match.index - 60), match.index + match[0].length).replace(/\s+/g, ' ');
      sites.push({ where: `${relative(join(root, 'packages'), file)}:${line}`, before, className: match[1]! });
    }
  }

  it('finds the throw sites (the walk itself works)', () => {
    expect(sites.length).toBeGreaterThan(40);
  });

  it('each construction is coded: withCode(...), a coded class, or a documented exception', () => {
    const uncoded = sites.filter(({ where, before, className }) => {
      if (CODED_CLASSES.has(className)) return false;
      if (/withCode\( ?new \w+\($/.test(before)) return false;
      return !NOT_OURS.some(([file, pattern]) => where.startsWith(file) && pattern.test(before));
    });
    expect(uncoded.map(({ where, before }) => `${where}: ${before}`)).toEqual([]);
  });

  it('each `throw` throws a coded construction, a coding helper, or something caught (a rethrow)', () => {
    const bad: string[] = [];
    for (const file of files) {
      // Comments out: they talk about throws.
      const text = readFileSync(file, 'utf8').replace(/\/\*[\s\S]*?\*\/|\/\/[^\n]*/g, '');
      for (const match of text.matchAll(/\bthrow ([^;]*)/g)) {
        const thrown = match[1]!.trim();
        const ok =
          /^new (HandshakeRejection|UsageError|RedisUnreachableError|SyntaxError)\(/.test(thrown) ||
          /^(withCode|codedTypeError|invalid\w*|reject)\(/.test(thrown) ||
          /^[a-z]\w*$/.test(thrown) || // a rethrow of a caught value
          thrown.startsWith('new SyntaxError(') ||
          // A Nest guard's `false` is Nest's ForbiddenException, as on a route: the gateway's
          // exception filters get what they would get from Nest itself (docs/nestjs.md).
          (file.endsWith('nestjs/src/guards.ts') && thrown === "new ForbiddenException('Forbidden resource')") ||
          thrown === '';
        if (!ok) bad.push(`${relative(root, file)}: throw ${thrown.slice(0, 80)}`);
      }
    }
    expect(bad).toEqual([]);
  });

  it('every code string in the sources (errors and warnings) is listed in docs/errors.md', () => {
    const codes = new Set<string>();
    for (const file of files)
      for (const match of readFileSync(file, 'utf8').matchAll(/'(SWITCHYARD_[A-Z_]+)'/g)) codes.add(match[1]!);
    expect(codes.size).toBeGreaterThan(20);
    expect([...codes].filter((code) => !docs.includes(`\`${code}\``))).toEqual([]);
  });

  it("the client's table lists exactly the client's ErrorCode", () => {
    const section = docs.slice(docs.indexOf('## @switchyard/client errors'), docs.indexOf('## Other packages'));
    const listed = [...section.matchAll(/^\| `(SWITCHYARD_ERR_\w+)` \| `(\w+)` \|/gm)].map((m) => [m[2], m[1]]);
    expect(Object.fromEntries(listed)).toEqual({ ...ClientErrorCode });
  });
});

/** What `run` threw, for matching on its code and class. */
function thrown(run: () => unknown): unknown {
  try {
    run();
  } catch (error) {
    return error;
  }
  throw new Error('did not throw');
}

describe('each throw site, triggered: the error the app catches has its code', () => {
  it.each([
    [{ recovery: 'yes' }, 'must be false or'],
    [{ recovery: { maxReplay: 1, replay: 2 } }, 'unknown option "recovery.replay"'],
    [{ recovery: {} }, 'needs a durable hub'],
  ])("core's recovery checks: %j", (options, message) => {
    const error = thrown(() => createEndpoint({ ...(options as object) }));
    expect(error).toBeInstanceOf(TypeError);
    expect(error).toMatchObject({ code: ErrorCode.INVALID_OPTION, message: expect.stringContaining(message) });
  });

  it("core's recovery value checks, with a durable hub", async () => {
    const hub = redisHub({ url: 'redis://127.0.0.1:1', durable: true });
    hub.on('error', () => {});
    for (const recovery of [{ maxDisconnectionDuration: 10 }, { maxReplay: 0 }]) {
      const error = thrown(() => createEndpoint({ hub, recovery }));
      expect(error).toMatchObject({ code: ErrorCode.INVALID_OPTION, message: expect.stringContaining('recovery.') });
    }
    await hub.close();
  });

  it.each([{ durable: 'yes' }, { durable: { maxlen: 5 } }, { durable: { maxLen: 0 } }, { durable: { ttl: -1 } }])(
    'redisHub(%j)',
    (options) => {
      const error = thrown(() => redisHub(options as Parameters<typeof redisHub>[0]));
      expect(error).toBeInstanceOf(TypeError);
      expect(error).toMatchObject({ code: ErrorCode.INVALID_OPTION, message: expect.stringMatching(/^redisHub\(\)/) });
    },
  );

  it.each(['chat,', 'a b', 'chat, chat'])('parseProtocols(%j)', (header) => {
    const error = thrown(() => parseProtocols(header));
    expect(error).toBeInstanceOf(SyntaxError);
    expect(error).toMatchObject({
      code: ErrorCode.INVALID_SUBPROTOCOL,
      message: expect.stringMatching(/at index \d+/),
    });
  });

  it('the Fastify plugin registered twice', async () => {
    const app = Fastify();
    await app.register(websocket);
    await expect(app.register(websocket)).rejects.toMatchObject({ code: ErrorCode.ALREADY_REGISTERED });
    await app.close().catch(() => {});
  });

  it('a Fastify websocket route on POST', async () => {
    const app = Fastify();
    await app.register(websocket);
    const error = thrown(() => app.route({ method: 'POST', url: '/x', websocket: {}, handler: () => 'page' }));
    expect(error).toBeInstanceOf(TypeError);
    expect(error).toMatchObject({ code: ErrorCode.INVALID_METHOD });
    await app.close();
  });

  it.each([
    [
      { options: { maxPayload: 1 } },
      '"options" is an option of @fastify/websocket; its ws settings are plugin options',
    ],
    [{ errorHandler: () => {} }, '"errorHandler" is an option of @fastify/websocket; use the "error" hook'],
    [{ preClose: () => {} }, '"preClose" is an option of @fastify/websocket'],
    [{ connectionOptions: {} }, '"connectionOptions" is an option of @fastify/websocket'],
    [{ heartbeat: { intervall: 5 } }, 'unknown option "heartbeat.intervall"'],
    [{ maxPayload: -1 }, 'option "maxPayload" must be a positive number'],
  ])('the Fastify plugin checks %j at register, before any route', async (options, message) => {
    const app = Fastify();
    const error = await app.register(websocket, options as never).then(
      () => undefined,
      (failure: unknown) => failure,
    );
    expect(error).toBeInstanceOf(TypeError);
    expect(error).toMatchObject({ code: ErrorCode.INVALID_OPTION, message: expect.stringContaining(message) });
    await app.close().catch(() => {});
  });

  it('the Fastify plugin takes a recovery default whose hub comes per route', async () => {
    const app = Fastify();
    await app.register(websocket, { recovery: { maxReplay: 10 }, hub: undefined });
    await app.close();
    const plain = Fastify();
    await plain.register(websocket, { hub: createHub(), maxPayload: 1024 });
    await plain.close();
  });

  it.each([
    [{ reconect: {} }, 'unknown option "reconect"'],
    [{ reconnect: { jitter: 2 } }, 'reconnect.jitter'],
    [{ token: 'abc' }, 'token needs at least one subprotocol'],
    [{ token: 5 }, 'token must be a string'],
    [{ transports: [] }, 'transports must list'],
  ])('connect(url, %j)', (options, message) => {
    const error = thrown(() => connect('ws://127.0.0.1:1/x', options as never));
    expect(error).toBeInstanceOf(TypeError);
    expect(error).toMatchObject({ code: ClientErrorCode.INVALID_OPTION, message: expect.stringContaining(message) });
  });

  it.each(['/relative', 'ftp://example.com/x'])('connect(%j)', (url) => {
    const error = thrown(() => connect(url, { WebSocket }));
    expect(error).toMatchObject({ code: ClientErrorCode.INVALID_URL });
  });

  it('a shed handshake (maxPendingHandshakes): 503 with Retry-After, and SWITCHYARD_HANDSHAKES_SHED once', async () => {
    const warnings: Array<Error & { code?: string }> = [];
    const onWarning = (warning: Error & { code?: string }): void => {
      if (warning.code === 'SWITCHYARD_HANDSHAKES_SHED') warnings.push(warning);
    };
    process.on('warning', onWarning);
    let open!: () => void;
    const gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    let waiting = 0;
    const app = Fastify();
    await app.register(websocket);
    app.get('/busy', {
      websocket: {
        heartbeat: false,
        maxPendingHandshakes: 1,
        async upgrade() {
          waiting++;
          await gate;
        },
      },
    });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = app.server.address() as import('node:net').AddressInfo;
    try {
      const first = new WebSocket(`ws://127.0.0.1:${port}/busy`);
      first.on('error', () => {});
      await vi.waitFor(() => expect(waiting).toBe(1));
      const answers = await Promise.all(
        [0, 1].map(
          () =>
            new Promise<{ status: number | undefined; retryAfter: string | undefined }>((resolve) => {
              const shed = new WebSocket(`ws://127.0.0.1:${port}/busy`);
              shed.on('error', () => {});
              shed.on('unexpected-response', (_req, res) => {
                resolve({ status: res.statusCode, retryAfter: res.headers['retry-after'] as string | undefined });
                res.resume();
              });
            }),
        ),
      );
      for (const answer of answers) {
        expect(answer.status).toBe(503);
        expect(answer.retryAfter).toMatch(/^[1-5]$/);
      }
      await vi.waitFor(() => expect(warnings.length).toBe(1));
      expect(warnings[0]!.message).toContain('/busy had 1 handshakes in progress (maxPendingHandshakes)');
      open();
      await new Promise((resolve) => first.once('open', resolve));
      first.terminate();
    } finally {
      process.off('warning', onWarning);
      open();
      await app.close();
    }
  });

  it('send() and close() with bad arguments', () => {
    const socket = connect('ws://127.0.0.1:1/x', { WebSocket, reconnect: false, transports: ['websocket'] });
    socket.addEventListener('error', () => {});
    expect(thrown(() => socket.send(5 as never))).toMatchObject({ code: ClientErrorCode.INVALID_DATA });
    expect(thrown(() => socket.close(1001))).toMatchObject({ code: ClientErrorCode.INVALID_CLOSE });
    expect(thrown(() => socket.close(1000, 'x'.repeat(124)))).toMatchObject({ code: ClientErrorCode.INVALID_CLOSE });
    socket.close();
  });
});
