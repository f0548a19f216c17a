/**
 * What the docs say about other packages, shown against the real packages at the versions the
 * docs name (express-ws 5.0.2 on ws 7, koa-easy-ws 2.1.0, @fastify/websocket 11, @hono/node-ws 1.3). Each test
 * backs a sentence in README.md, docs/migration.md or docs/options.md; change the sentence if a
 * test changes.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { afterEach, describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import express from 'express';
import expressWs from 'express-ws';
import Koa from 'koa';
import koaEasyWsModule from 'koa-easy-ws';
import Fastify from 'fastify';
import fastifyWebsocket from '@fastify/websocket';
import { websocket as switchyardExpress } from '@switchyard/express';
import { Opcode, RawClient, delay, frame, handshakeRequest, quietFor } from './helpers.js';
import { PeerModule as NestPeerModule, startApp as startNest } from '../packages/nestjs/test/app.js';
import { Hono } from 'hono';
import { bearerAuth } from 'hono/bearer-auth';
import { getRequestListener } from '@hono/node-server';
import { createNodeWebSocket } from '@hono/node-ws';
import { upgradeWebSocket as switchyardUpgradeWebSocket } from '@switchyard/hono';
import type { UpgradeWebSocketOptions } from '@switchyard/hono';

const require = createRequire(import.meta.url);
// koa-easy-ws is CommonJS (module.exports = the function) but its types declare a default export.
const koaEasyWs = koaEasyWsModule as unknown as typeof koaEasyWsModule.default;
const versionOf = (name: string): string => (require(`${name}/package.json`) as { version: string }).version;

/** Node's request, headers and keep-alive timers at 1 s, checked every 100 ms. */
const SHORT_TIMERS = {
  requestTimeout: 1000,
  headersTimeout: 1000,
  keepAliveTimeout: 1000,
  connectionsCheckingInterval: 100,
} as http.ServerOptions;

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function listen(server: http.Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return (server.address() as AddressInfo).port;
}

function expressWsEcho(options: http.ServerOptions = {}, guard?: express.RequestHandler): http.Server {
  const app = express();
  const server = http.createServer(options, app);
  const { app: wsApp } = expressWs(app, server);
  if (guard) wsApp.use(guard);
  wsApp.ws('/echo', (ws) => {
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  });
  return server;
}

function koaEasyWsEcho(options: http.ServerOptions = {}): http.Server {
  const app = new Koa();
  // Koa would log the request timeout that one test provokes on purpose.
  app.silent = true;
  app.use(koaEasyWs());
  app.use(async (ctx) => {
    if (!ctx.ws) return;
    const ws = await ctx.ws();
    ws.on('message', (data: WebSocket.RawData, isBinary: boolean) => ws.send(data, { binary: isBinary }));
  });
  return http.createServer(options, app.callback());
}

async function rawHandshake(port: number, path = '/echo'): Promise<RawClient> {
  const raw = await RawClient.connect(port);
  cleanups.push(() => {
    raw.socket.destroy();
  });
  raw.write(handshakeRequest(path));
  expect((await raw.response()).status).toBe(101);
  return raw;
}

describe('the versions the docs name', () => {
  it('express-ws 5.0.2 on ws 7, koa-easy-ws 2.1.0, @fastify/websocket 11', () => {
    expect(versionOf('express-ws')).toBe('5.0.2');
    expect(createRequire(require.resolve('express-ws'))('ws/package.json').version).toMatch(/^7\./);
    expect(versionOf('koa-easy-ws')).toBe('2.1.0');
    expect(versionOf('@fastify/websocket')).toMatch(/^11\./);
    // ws 8 delivers text as a Buffer with isBinary = false (docs/migration.md).
    expect(createRequire(require.resolve('koa-easy-ws'))('ws/package.json').version).toMatch(/^8\./);
    expect(createRequire(require.resolve('@fastify/websocket'))('ws/package.json').version).toMatch(/^8\./);
  });
});

describe('ws on its own', () => {
  it('accepts messages up to 100 MiB by default (switchyard: 1 MiB)', async () => {
    const { WebSocketServer } = await import('ws');
    const wss = new WebSocketServer({ noServer: true });
    expect(wss.options.maxPayload).toBe(100 * 1024 * 1024);
    wss.close();
  });
});

describe("Node's request timers after the 101", () => {
  it('koa-easy-ws takes the socket from the request event: once the client has sent a message, Node writes its 408 into the live WebSocket, and a ws client fails with "RSV1 must be clear"', async () => {
    const port = await listen(koaEasyWsEcho(SHORT_TIMERS));
    const raw = await rawHandshake(port);
    // Node's HTTP parser still reads the socket: the frame looks like the start of a next
    // request, which then "times out".
    raw.write(frame(Opcode.TEXT, 'one'));
    await raw.until(() => raw.frames().length >= 1);
    await raw.until((received) => received.toString('latin1').includes('408'), 5000);
    expect(raw.received.toString('latin1')).toContain('HTTP/1.1 408 Request Timeout');

    const ws = new WebSocket(`ws://127.0.0.1:${port}/echo`);
    cleanups.push(() => {
      ws.terminate();
    });
    const failure = new Promise<Error & { code?: string }>((resolve) => ws.once('error', resolve));
    await new Promise((resolve) => ws.once('open', resolve));
    ws.send('hello');
    const error = await failure;
    expect(error.message).toBe('Invalid WebSocket frame: RSV1 must be clear');
    expect(error.code).toBe('WS_ERR_UNEXPECTED_RSV_1');
  }, 15_000);

  it("express-ws takes the socket on the server's upgrade event: under the same timers and after the same message, it keeps echoing for 5 s with no 408", async () => {
    const port = await listen(expressWsEcho(SHORT_TIMERS));
    const raw = await rawHandshake(port);
    raw.write(frame(Opcode.TEXT, 'one'));
    await raw.until(() => raw.frames().length >= 1);
    // Past the server's 5 s requestTimeout: no 408 and no close may come.
    await quietFor(5200);
    expect(raw.closed).toBe(false);
    raw.write(frame(Opcode.TEXT, 'two'));
    await raw.until(() => raw.frames().length >= 2);
    expect(raw.frames().map((f) => f.payload.toString())).toEqual(['one', 'two']);
    expect(raw.received.toString('latin1')).not.toContain('408');
  }, 15_000);

  it('koa-easy-ws loses a frame sent right behind the handshake (it passes an empty head to ws)', async () => {
    const port = await listen(koaEasyWsEcho());
    const raw = await RawClient.connect(port);
    cleanups.push(() => {
      raw.socket.destroy();
    });
    raw.write(Buffer.concat([Buffer.from(handshakeRequest('/echo')), frame(Opcode.TEXT, 'early')]));
    expect((await raw.response()).status).toBe(101);
    // The early frame's echo never comes.
    await quietFor(500);
    expect(raw.frames()).toHaveLength(0);
    // A frame sent after the 101 is echoed: only the early one is gone.
    raw.write(frame(Opcode.TEXT, 'later'));
    await raw.until(() => raw.frames().some((f) => f.payload.toString() === 'later'));
    expect(raw.frames().map((f) => f.payload.toString())).toEqual(['later']);
  });

  it('express-ws keeps a frame sent right behind the handshake', async () => {
    const port = await listen(expressWsEcho());
    const raw = await RawClient.connect(port);
    cleanups.push(() => {
      raw.socket.destroy();
    });
    raw.write(Buffer.concat([Buffer.from(handshakeRequest('/echo')), frame(Opcode.TEXT, 'early')]));
    expect((await raw.response()).status).toBe(101);
    await raw.until(() => raw.frames().length >= 1);
    expect(raw.frames()[0]!.payload.toString()).toBe('early');
  });
});

describe('auth middleware in front of the socket', () => {
  const deny: express.RequestHandler = (_req, res) => {
    res.status(401).send('no');
  };

  it('express-ws completes the 101 before middleware runs: a 401 from middleware reaches the client as an open followed by a close', async () => {
    const port = await listen(expressWsEcho({}, deny));
    const ws = new WebSocket(`ws://127.0.0.1:${port}/echo`);
    const unexpected = new Promise<number | undefined>((resolve) =>
      ws.once('unexpected-response', (_req, res) => resolve(res.statusCode)),
    );
    const opened = new Promise<boolean>((resolve) => {
      ws.once('open', () => resolve(true));
      ws.once('error', () => resolve(false));
    });
    const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
    expect(await opened).toBe(true);
    expect(await closed).toBe(1005);
    expect(await Promise.race([unexpected, delay(100).then(() => 'no HTTP answer')])).toBe('no HTTP answer');
  });

  it('@fastify/websocket runs route hooks first: a preValidation 401 reaches the client as a 401', async () => {
    const fastify = Fastify();
    await fastify.register(fastifyWebsocket);
    fastify.get(
      '/echo',
      {
        websocket: true,
        preValidation: async (_request, reply) => {
          await reply.code(401).send('no');
        },
      },
      (socket) => {
        socket.close();
      },
    );
    await fastify.listen({ port: 0, host: '127.0.0.1' });
    cleanups.push(() => fastify.close());
    const ws = new WebSocket(`ws://127.0.0.1:${(fastify.server.address() as AddressInfo).port}/echo`);
    ws.on('error', () => {});
    const status = await new Promise<number | undefined>((resolve) =>
      ws.once('unexpected-response', (_req, res) => {
        resolve(res.statusCode);
        res.destroy();
      }),
    );
    expect(status).toBe(401);
  });

  it('switchyard runs the middleware first: the client gets the 401', async () => {
    const app = express();
    app.use(
      '/echo',
      deny,
      switchyardExpress({
        message(ws, data) {
          ws.send(data);
        },
      }),
    );
    const port = await listen(http.createServer(app));
    const ws = new WebSocket(`ws://127.0.0.1:${port}/echo`);
    const status = await new Promise<number | undefined>((resolve) =>
      ws.once('unexpected-response', (_req, res) => {
        resolve(res.statusCode);
        res.destroy();
      }),
    );
    ws.on('error', () => {});
    expect(status).toBe(401);
  });
});

describe('what a message handler gets', () => {
  it('with ws 8 (@fastify/websocket; koa-easy-ws runs the same ws 8) a text message arrives as a Buffer with isBinary false; with express-ws (ws 7) as a string', async () => {
    const seen: string[] = [];
    const fastify = Fastify();
    await fastify.register(fastifyWebsocket);
    fastify.get('/echo', { websocket: true }, (socket) => {
      socket.on('message', (data: unknown, isBinary: boolean) => {
        seen.push(`fastify ${Buffer.isBuffer(data) ? 'Buffer' : typeof data} ${isBinary}`);
      });
      socket.send('ready');
    });
    await fastify.listen({ port: 0, host: '127.0.0.1' });
    cleanups.push(() => fastify.close());

    const app = express();
    const server = http.createServer(app);
    expressWs(app, server).app.ws('/echo', (ws) => {
      ws.on('message', (data: unknown) => {
        seen.push(`express-ws ${Buffer.isBuffer(data) ? 'Buffer' : typeof data}`);
      });
      ws.send('ready');
    });

    for (const port of [(fastify.server.address() as AddressInfo).port, await listen(server)]) {
      const ws = new WebSocket(`ws://127.0.0.1:${port}/echo`);
      cleanups.push(() => {
        ws.terminate();
      });
      // After the server's "ready": its listener is attached, and no byte rides behind the handshake.
      await new Promise((resolve) => ws.once('message', resolve));
      ws.send('text');
    }
    await vi.waitFor(() => expect(seen, JSON.stringify(seen)).toHaveLength(2));
    expect(seen.sort()).toEqual(['express-ws string', 'fastify Buffer false']);
  });
});

describe('subprotocols when the app names none', () => {
  async function protocolOf(port: number): Promise<string> {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/echo`, ['soap', 'chat']);
    cleanups.push(() => {
      ws.terminate();
    });
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    return ws.protocol;
  }

  it('express-ws, koa-easy-ws and @fastify/websocket each answer with the first protocol the client offered', async () => {
    const fastify = Fastify();
    await fastify.register(fastifyWebsocket);
    fastify.get('/echo', { websocket: true }, (socket) => {
      socket.on('message', (data) => socket.send(data));
    });
    await fastify.listen({ port: 0, host: '127.0.0.1' });
    cleanups.push(() => fastify.close());
    const fastifyPort = (fastify.server.address() as AddressInfo).port;

    expect(await protocolOf(await listen(expressWsEcho()))).toBe('soap');
    expect(await protocolOf(await listen(koaEasyWsEcho()))).toBe('soap');
    expect(await protocolOf(fastifyPort)).toBe('soap');
  });
});

describe('NestJS: @nestjs/platform-ws and @switchyard/nestjs on the same gateways (platform-express)', () => {
  async function nest(ws: 'switchyard' | 'platform-ws'): Promise<number> {
    const { app, port } = await startNest('express', undefined, NestPeerModule, ws);
    cleanups.push(() => app.close());
    return port;
  }
  const token = { 'X-Token': 'ann' };

  it('a gateway guard that returns false: platform-ws answers 101 (Nest runs guards per message); switchyard answers 403', async () => {
    for (const [ws, status] of [
      ['platform-ws', 101],
      ['switchyard', 403],
    ] as const) {
      const raw = await RawClient.connect(await nest(ws));
      cleanups.push(() => {
        raw.socket.destroy();
      });
      raw.write(handshakeRequest('/denied'));
      const head = await raw.response();
      expect(head.status, `${ws}: ${raw.received.toString('latin1')}`).toBe(status);
    }
  });

  it('a page request pipelined ahead of an upgrade: platform-ws writes its 200 after the 101, into the WebSocket; switchyard answers it first', async () => {
    for (const ws of ['platform-ws', 'switchyard'] as const) {
      const raw = await RawClient.connect(await nest(ws));
      cleanups.push(() => {
        raw.socket.destroy();
      });
      raw.write(`GET /page HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n${handshakeRequest('/chat', token)}`);
      const text = (await raw.until((b) => b.includes('HTTP/1.1 101') && b.includes('a page'))).toString('latin1');
      if (ws === 'platform-ws') expect(text.indexOf('HTTP/1.1 101'), ws).toBeLessThan(text.indexOf('HTTP/1.1 200'));
      else expect(text.indexOf('HTTP/1.1 200'), ws).toBe(0);
    }
  });

  it("a client offering ['soap', 'chat'] to a gateway naming protocols: ['chat']: platform-ws answers soap, switchyard chat", async () => {
    for (const [ws, protocol] of [
      ['platform-ws', 'soap'],
      ['switchyard', 'chat'],
    ] as const) {
      const client = new WebSocket(`ws://127.0.0.1:${await nest(ws)}/chat`, ['soap', 'chat'], {
        headers: { 'x-token': 'ann' },
      });
      cleanups.push(() => client.terminate());
      await new Promise((resolve, reject) => {
        client.once('open', resolve);
        client.once('error', reject);
      });
      expect(client.protocol, ws).toBe(protocol);
    }
  });
});

describe('@hono/node-ws', () => {
  type Upgrade = typeof switchyardUpgradeWebSocket;
  /** The same Hono app on either package: bearerAuth on /ws, then an echo with Hono's handler shape. */
  function honoEcho(upgradeWebSocket: Upgrade, options?: UpgradeWebSocketOptions, app = new Hono()): Hono {
    app.use('/ws', bearerAuth({ token: 'secret' }));
    app.get(
      '/ws',
      upgradeWebSocket(
        () => ({
          onMessage(event, ws) {
            ws.send(event.data as string);
          },
        }),
        options,
      ),
    );
    return app;
  }

  /** @hono/node-ws as its README has it: createNodeWebSocket({ app }), then injectWebSocket(server). */
  function nodeWs(): http.Server {
    const app = new Hono();
    const { injectWebSocket, upgradeWebSocket } = createNodeWebSocket({ app });
    honoEcho(upgradeWebSocket as unknown as Upgrade, undefined, app);
    const server = http.createServer(getRequestListener(app.fetch));
    injectWebSocket(server);
    return server;
  }

  function switchyard(options?: UpgradeWebSocketOptions): http.Server {
    return http.createServer(getRequestListener(honoEcho(switchyardUpgradeWebSocket, options).fetch));
  }

  const auth = { Authorization: 'Bearer secret' };

  it('@hono/node-ws 1.3 on ws 8', () => {
    // Its exports map hides package.json: read it beside the resolved entry (dist/index.cjs).
    const entry = require.resolve('@hono/node-ws');
    const manifest = createRequire(entry)('../package.json') as { version: string };
    expect(manifest.version).toMatch(/^1\.3\./);
    expect(createRequire(entry)('ws/package.json').version).toMatch(/^8\./);
  });

  it("answers ['soap', 'chat'] with soap, with no protocol configured; switchyard names none (and warns), or chat when the endpoint declares it", async () => {
    const offer = (port: number) =>
      new Promise<string>((resolve, reject) => {
        const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`, ['soap', 'chat'], { headers: auth });
        ws.once('open', () => {
          resolve(ws.protocol);
          ws.terminate();
        });
        ws.once('error', reject);
      });
    expect(await offer(await listen(nodeWs()))).toBe('soap');
    const warned = vi.fn();
    process.on('warning', warned);
    cleanups.push(() => void process.off('warning', warned));
    await expect(offer(await listen(switchyard()))).rejects.toThrow(/Server sent no subprotocol/);
    await vi.waitFor(() =>
      expect(warned).toHaveBeenCalledWith(expect.objectContaining({ code: 'SWITCHYARD_NO_SUBPROTOCOL' })),
    );
    expect(await offer(await listen(switchyard({ protocols: ['chat'] })))).toBe('chat');
  });

  it("bearerAuth's 401 reaches the client without its WWW-Authenticate header and body; switchyard sends Hono's whole answer", async () => {
    const refusal = async (port: number) => {
      const raw = await RawClient.connect(port);
      cleanups.push(() => raw.destroy());
      raw.write(handshakeRequest('/ws'));
      // Both close the connection after a refusal: everything sent is there once it closes.
      await raw.waitClosed();
      const head = await raw.response();
      return { status: head.statusLine, headers: head.headers, body: head.rest.toString() };
    };
    const theirs = await refusal(await listen(nodeWs()));
    expect(theirs.status).toMatch(/^HTTP\/1\.1 401/);
    expect(theirs.headers['www-authenticate']).toBeUndefined();
    expect(theirs.body).toBe('');
    const ours = await refusal(await listen(switchyard()));
    expect(ours.status).toMatch(/^HTTP\/1\.1 401/);
    expect(ours.headers['www-authenticate']).toMatch(/^Bearer realm=/);
    expect(ours.body).toContain('Unauthorized');
  });

  it('has no heartbeat: in the time switchyard pings a peer that never answers and drops it, node-ws sends it nothing and keeps it', async () => {
    const silent = async (port: number) => {
      const raw = await RawClient.connect(port);
      cleanups.push(() => raw.destroy());
      raw.write(handshakeRequest('/ws', auth));
      await raw.until((b) => b.includes('\r\n\r\n'));
      return raw;
    };
    const theirs = await silent(await listen(nodeWs()));
    const ours = await silent(await listen(switchyard({ heartbeat: { interval: 200, timeout: 200 } })));
    await ours.waitClosed(3000);
    expect(ours.frames().some((f) => f.opcode === Opcode.PING)).toBe(true);
    expect(theirs.closed).toBe(false);
    expect(theirs.frames()).toEqual([]);
  });

  it('calls createEvents for a plain GET of the route too; switchyard only for handshakes', async () => {
    const counted = async (make: (create: () => object) => http.Server) => {
      let calls = 0;
      const port = await listen(
        make(() => {
          calls++;
          return {};
        }),
      );
      await fetch(`http://127.0.0.1:${port}/ws`, { headers: auth });
      return calls;
    };
    const app = (upgrade: Upgrade, create: () => object, hono = new Hono()) => {
      hono.get('/ws', upgrade(create), (c) => c.text('page'));
      return hono;
    };
    expect(
      await counted((create) => {
        const hono = new Hono();
        const { injectWebSocket, upgradeWebSocket } = createNodeWebSocket({ app: hono });
        app(upgradeWebSocket as unknown as Upgrade, create, hono);
        const server = http.createServer(getRequestListener(hono.fetch));
        injectWebSocket(server);
        return server;
      }),
    ).toBe(1);
    expect(
      await counted((create) => http.createServer(getRequestListener(app(switchyardUpgradeWebSocket, create).fetch))),
    ).toBe(0);
  });

  it('keeps a connection open after its handler threw (and logs it); switchyard closes it with 1011', async () => {
    const errors = vi.spyOn(console, 'error').mockImplementation(() => {});
    cleanups.push(() => errors.mockRestore());
    const throwing = (upgrade: Upgrade, hono = new Hono()) => {
      hono.get(
        '/ws',
        upgrade(() => ({
          onMessage(event, ws) {
            if (event.data === 'throw') throw new Error('handler fault');
            ws.send(`echo ${String(event.data)}`);
          },
        })),
      );
      return hono;
    };
    const afterThrow = (port: number) =>
      new Promise<string | number>((resolve, reject) => {
        const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`);
        ws.once('open', () => {
          ws.send('throw');
          ws.send('again');
        });
        ws.once('message', (data) => {
          resolve(String(data));
          ws.terminate();
        });
        ws.once('close', (code) => resolve(code));
        ws.once('error', reject);
      });
    const hono = new Hono();
    const { injectWebSocket, upgradeWebSocket } = createNodeWebSocket({ app: hono });
    throwing(upgradeWebSocket as unknown as Upgrade, hono);
    const theirs = http.createServer(getRequestListener(hono.fetch));
    injectWebSocket(theirs);
    expect(await afterThrow(await listen(theirs))).toBe('echo again');
    expect(errors).toHaveBeenCalled();
    const ours = http.createServer(getRequestListener(throwing(switchyardUpgradeWebSocket).fetch));
    expect(await afterThrow(await listen(ours))).toBe(1011);
  });

  it("takes messages up to ws's 100 MiB; switchyard closes a 2 MiB message with 1009 (maxPayload 1 MiB)", async () => {
    const sendBig = (port: number) =>
      new Promise<number | string>((resolve, reject) => {
        const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`, { headers: auth });
        ws.once('open', () => ws.send('x'.repeat(2 * 1024 * 1024)));
        ws.once('message', (data: Buffer) => {
          resolve(`echoed ${data.length}`);
          ws.terminate();
        });
        ws.once('close', (code) => resolve(code));
        ws.once('error', reject);
      });
    expect(await sendBig(await listen(nodeWs()))).toBe(`echoed ${2 * 1024 * 1024}`);
    expect(await sendBig(await listen(switchyard()))).toBe(1009);
  });
});
