// The server under attack: one app per adapter, in a process of its own started with
// --unhandled-rejections=strict, so that any crash or unhandled rejection ends it and the suite
// sees the exit. It prints its port, then answers the suite's questions over IPC.
//
//   node --unhandled-rejections=strict --expose-gc test/adversarial/server.mjs express|koa|fastify|nestjs|nestjs-fastify|hono
//
// Endpoints:
//   /echo                echo, subprotocols chat and superchat, fallback on
//   /slow                async `upgrade` hook (30 ms), then echo
//   /faults?where=W&how=H   a hook that fails: W is upgrade|open|message|close|ping|pong|error,
//                        H is throw|reject|string|undefined (a non-Error thrown or rejected)
//   /faye?where=W&how=H  the same from faye-style listeners (message|close|ping|pong|error)
//   /guarded             middleware in front answers 401 unless `x-token: ok` (async)
//   /mw-fault?how=H      middleware in front fails (throw|reject)
//   GET /page, POST /form  ordinary routes
import http from 'node:http';

const adapter = process.argv[2];
const faultsSeen = { count: 0 };

function fail(how) {
  switch (how) {
    case 'throw':
      throw new Error('fault');
    case 'reject':
      return Promise.reject(new Error('fault'));
    case 'string':
      throw 'fault as a string';
    case 'undefined':
      return Promise.reject(undefined);
    default:
      return undefined;
  }
}

function faulty(where, how) {
  return (...args) => {
    if (where !== undefined && args[0]?.request?.query?.where !== where) return undefined;
    faultsSeen.count++;
    return fail(args[0]?.request?.query?.how ?? how);
  };
}

const echo = {
  protocols: ['chat', 'superchat'],
  heartbeat: false,
  // A fallback session outlives its stream for a resume; short here, so that the suite can check
  // that it goes once its time is up.
  fallback: { sessionTimeout: 300 },
  message(ws, data) {
    ws.send(data);
  },
  // Handler errors are expected here by the thousand; the suite counts them instead of logging.
  error() {},
};

const slow = {
  ...echo,
  async upgrade() {
    await new Promise((resolve) => setTimeout(resolve, 30));
  },
};

function queryOf(url) {
  return Object.fromEntries(new URL(url, 'http://x').searchParams);
}

const faults = {
  heartbeat: false,
  upgrade(req) {
    if (req.query.where === 'upgrade') {
      faultsSeen.count++;
      return fail(req.query.how);
    }
    return undefined;
  },
  open: faulty('open'),
  message(ws, data) {
    if (ws.request.query.where === 'message') {
      faultsSeen.count++;
      return fail(ws.request.query.how);
    }
    ws.send(data);
    return undefined;
  },
  close: faulty('close'),
  ping: faulty('ping'),
  pong: faulty('pong'),
  error(ws) {
    if (ws?.request.query.where === 'error') {
      faultsSeen.count++;
      return fail(ws.request.query.how);
    }
    return undefined;
  },
};

function faye(ws) {
  const { where, how } = ws.request.query;
  for (const event of ['message', 'close', 'ping', 'pong', 'error']) {
    ws.on(event, (...args) => {
      if (event === 'message') ws.send(args[0]);
      if (event !== where) return undefined;
      faultsSeen.count++;
      return fail(how);
    });
  }
}

async function guard(token) {
  await Promise.resolve();
  return token === 'ok';
}

/** The gateways NestJS serves on both its platforms; only the middleware in front differs. */
function nestMounts() {
  return {
    '/echo': echo,
    '/slow': slow,
    '/faults': faults,
    '/faye': { listener: faye, heartbeat: false, fallback: { sessionTimeout: 300 } },
    '/guarded': echo,
    '/mw-fault': echo,
  };
}

let server;
if (adapter === 'express') {
  const { default: express } = await import('express');
  const { websocket } = await import('@switchyard/express');
  const app = express();
  const mount = (path, ...chain) => app.use(path, ...chain);
  mount('/echo', websocket(echo));
  mount('/slow', websocket(slow));
  mount('/faults', websocket(faults));
  mount('/faye', websocket(faye, { heartbeat: false, fallback: { sessionTimeout: 300 } }));
  mount(
    '/guarded',
    (req, res, next) => {
      guard(req.headers['x-token']).then((ok) => (ok ? next() : res.status(401).send('no token')), next);
    },
    websocket(echo),
  );
  mount(
    '/mw-fault',
    (req, _res, next) => {
      if (queryOf(req.originalUrl).how === 'reject') Promise.reject(new Error('middleware fault')).catch(next);
      else throw new Error('middleware fault');
    },
    websocket(echo),
  );
  app.get('/page', (_req, res) => {
    res.send('a page');
  });
  app.post('/form', express.text({ type: '*/*' }), (req, res) => {
    res.send(`got ${String(req.body).length}`);
  });
  // Express's default error handler logs every error; the suite provokes them on purpose.
  app.use((_error, _req, res, _next) => {
    res.status(500).send('middleware failed');
  });
  server = http.createServer(app);
} else if (adapter === 'koa') {
  const { default: Koa } = await import('koa');
  const { default: Router } = await import('@koa/router');
  const { websocket } = await import('@switchyard/koa');
  const app = new Koa();
  app.silent = true;
  const router = new Router();
  const mount = (path, ...chain) => router.all(path, ...chain);
  mount('/echo', websocket(echo));
  mount('/slow', websocket(slow));
  mount('/faults', websocket(faults));
  mount('/faye', websocket(faye, { heartbeat: false, fallback: { sessionTimeout: 300 } }));
  mount(
    '/guarded',
    async (ctx, next) => {
      if (await guard(ctx.get('x-token'))) return next();
      ctx.status = 401;
      ctx.body = 'no token';
      return undefined;
    },
    websocket(echo),
  );
  mount(
    '/mw-fault',
    async (ctx) => {
      if (ctx.query.how === 'reject') await Promise.reject(new Error('middleware fault'));
      throw new Error('middleware fault');
    },
    websocket(echo),
  );
  router.get('/page', (ctx) => {
    ctx.body = 'a page';
  });
  router.post('/form', async (ctx) => {
    let length = 0;
    for await (const chunk of ctx.req) length += chunk.length;
    ctx.body = `got ${length}`;
  });
  app.use(router.routes());
  server = http.createServer(app.callback());
} else if (adapter === 'fastify') {
  const { default: Fastify } = await import('fastify');
  const { default: websocket } = await import('@switchyard/fastify');
  const app = Fastify({ serverFactory: (handler) => (server = http.createServer(handler)) });
  await app.register(websocket, { fallback: { sessionTimeout: 300 } });
  app.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => done(null, body));
  app.get('/echo', { websocket: echo });
  app.get('/slow', { websocket: slow });
  app.get('/faults', { websocket: faults });
  app.get('/faye', { websocket: faye });
  app.get('/guarded', {
    websocket: echo,
    onRequest: async (request, reply) => {
      if (!(await guard(request.headers['x-token']))) return reply.code(401).send('no token');
      return undefined;
    },
  });
  app.get('/mw-fault', {
    websocket: echo,
    onRequest: async (request) => {
      if (request.query.how === 'reject') await Promise.reject(new Error('middleware fault'));
      throw new Error('middleware fault');
    },
  });
  app.get('/page', async () => 'a page');
  app.post('/form', async (request) => `got ${String(request.body ?? '').length}`);
  app.setErrorHandler((_error, _request, reply) => {
    reply.code(500).send('middleware failed');
  });
  await app.ready();
} else if (adapter === 'nestjs') {
  const { nestServer } = await import('../../packages/nestjs/test/program.mjs');
  const { default: express } = await import('express');
  server = await nestServer(nestMounts(), {
    before(app) {
      app.use('/guarded', (req, res, next) => {
        guard(req.headers['x-token']).then((ok) => (ok ? next() : res.status(401).send('no token')), next);
      });
      app.use('/mw-fault', (req, _res, next) => {
        if (queryOf(req.originalUrl).how === 'reject') Promise.reject(new Error('middleware fault')).catch(next);
        else throw new Error('middleware fault');
      });
      app.get('/page', (_req, res) => res.send('a page'));
      app.post('/form', express.text({ type: '*/*' }), (req, res) => res.send(`got ${String(req.body).length}`));
    },
  });
} else if (adapter === 'nestjs-fastify') {
  const { nestServer } = await import('../../packages/nestjs/test/program.mjs');
  const pathOf = (request) => request.url.split('?')[0];
  server = await nestServer(nestMounts(), {
    platform: 'fastify',
    before(app) {
      app.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => done(null, body));
      app.addHook('onRequest', async (request, reply) => {
        if (pathOf(request) === '/guarded' && !(await guard(request.headers['x-token'])))
          return reply.code(401).send('no token');
        if (pathOf(request) === '/mw-fault') {
          if (request.query.how === 'reject') await Promise.reject(new Error('middleware fault'));
          throw new Error('middleware fault');
        }
        return undefined;
      });
      app.get('/page', async () => 'a page');
      app.post('/form', async (request) => `got ${String(request.body ?? '').length}`);
    },
  });
} else if (adapter === 'hono') {
  const { Hono } = await import('hono');
  const { getRequestListener } = await import('@hono/node-server');
  const { websocket } = await import('@switchyard/hono');
  const app = new Hono();
  const mount = (path, ...chain) => {
    for (const handler of chain) app.all(path, handler);
  };
  mount('/echo', websocket(echo));
  mount('/slow', websocket(slow));
  mount('/faults', websocket(faults));
  mount('/faye', websocket(faye, { heartbeat: false, fallback: { sessionTimeout: 300 } }));
  mount(
    '/guarded',
    async (c, next) => {
      if (await guard(c.req.header('x-token'))) return next();
      return c.text('no token', 401);
    },
    websocket(echo),
  );
  mount(
    '/mw-fault',
    async (c) => {
      if (c.req.query('how') === 'reject') await Promise.reject(new Error('middleware fault'));
      throw new Error('middleware fault');
    },
    websocket(echo),
  );
  app.get('/page', (c) => c.text('a page'));
  app.post('/form', async (c) => c.text(`got ${(await c.req.text()).length}`));
  // Hono's default error handler logs every error; the suite provokes them on purpose.
  app.onError((_error, c) => c.text('middleware failed', 500));
  server = http.createServer(getRequestListener(app.fetch));
} else {
  throw new Error(`unknown adapter ${adapter}`);
}

const sockets = new Set();
server.on('connection', (socket) => {
  sockets.add(socket);
  socket.once('close', () => sockets.delete(socket));
});
// Under SWITCHYARD_INTERNALS=0 (test/public-route) the server takes the public route the docs
// name for a Node whose internals switchyard can't use.
if (process.env.SWITCHYARD_INTERNALS === '0') (await import('@switchyard/core')).routeUpgrades(server);
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));

/**
 * The endpoints that served this server, from core's own registry (what `shutdown(server)`
 * closes): the same list on every adapter, Fastify's route endpoints included.
 */
function endpointsOf(target) {
  const key = Object.getOwnPropertySymbols(target).find((symbol) => symbol.description === 'switchyard.endpoints');
  return key ? [...target[key]] : [];
}

function resources() {
  const counts = {};
  for (const name of process.getActiveResourcesInfo()) counts[name] = (counts[name] ?? 0) + 1;
  return counts;
}

process.on('message', (message) => {
  if (message.type === 'stats') {
    if (message.gc && globalThis.gc) globalThis.gc();
    server.getConnections((error, connections) => {
      process.send({
        id: message.id,
        connections: error ? -1 : connections,
        sockets: sockets.size,
        live: endpointsOf(server).reduce((sum, endpoint) => sum + endpoint.connections.size, 0),
        faults: faultsSeen.count,
        resources: resources(),
        // Listeners on the server and the process: none may be added per connection.
        listeners: [server, process].reduce(
          (sum, emitter) => sum + emitter.eventNames().reduce((n, name) => n + emitter.listenerCount(name), 0),
          0,
        ),
        heapUsed: process.memoryUsage().heapUsed,
      });
    });
  }
});
process.send({ type: 'ready', port: server.address().port });
