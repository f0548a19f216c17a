#!/usr/bin/env node
/**
 * What a message costs a `schema` endpoint by its shape, and what the `maxDepth` scan costs:
 * a server process (Express) with a schema that only parses (`z.unknown()`) and a recursive zod
 * schema that accepts any JSON, each at `/bounded` (maxDepth 64, the default) and `/unbounded`
 * (maxDepth: Infinity, the code before the scan). A raw TCP client sends pre-masked frames; the server reports its own CPU
 * (`process.cpuUsage()`) and its event loop's longest block (`monitorEventLoopDelay`). Rounds
 * alternate between the endpoints; the tables show medians. Prints two tables:
 *
 * 1. the worst shapes this file can generate, 1 MiB each, against flat JSON of the same size:
 *    server CPU and the longest event-loop block per message;
 * 2. ordinary messages (100 B to 64 KiB): CPU per message with and without the scan.
 *
 *   node bench/json-depth.mjs [--size=1048576] [--rounds=5] [--only=shapes|normal]
 */
import { fork } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';

const args = Object.fromEntries(
  process.argv
    .slice(2)
    .filter((a) => a.startsWith('--'))
    .map((a) => a.slice(2).split('=')),
);

async function serve() {
  const { monitorEventLoopDelay } = await import('node:perf_hooks');
  const { default: express } = await import('express');
  const { websocket } = await import('@switchyard/express');
  const { z } = await import('zod');
  const Json = z.lazy(() =>
    z.union([z.string(), z.number(), z.boolean(), z.null(), z.array(Json), z.record(z.string(), Json)]),
  );
  const app = express();
  const handlers = {
    heartbeat: false,
    maxPayload: 4 * 1024 * 1024,
    schema: Json,
    message(ws) {
      ws.send('ok');
    },
    // A recursive schema on deep input overflows the stack: 1011, and no log per message here.
    error() {},
  };
  // `any`: JSON.parse and nothing else, where the scan's share is largest. `json`: a recursive
  // schema that walks every value, as an app validating arbitrary JSON would.
  for (const [name, schema] of [
    ['any', z.unknown()],
    ['json', Json],
  ]) {
    app.use(`/${name}/bounded`, websocket({ ...handlers, schema }));
    app.use(`/${name}/unbounded`, websocket({ ...handlers, schema, maxDepth: Infinity }));
  }
  const server = app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const delay = monitorEventLoopDelay({ resolution: 1 });
  delay.enable();
  let cpu = process.cpuUsage();
  process.on('message', (message) => {
    if (message === 'mark') {
      cpu = process.cpuUsage();
      delay.reset();
      process.send({ marked: true });
    } else if (message === 'read') {
      const used = process.cpuUsage(cpu);
      process.send({ cpuMicros: used.user + used.system, maxDelayMs: delay.max / 1e6 });
    }
  });
  process.on('disconnect', () => process.exit(0));
  process.send({ port: server.address().port });
}

/** A client frame masked with the zero key, so the bytes are built once and cost nothing to send. */
function textFrame(text) {
  const payload = Buffer.from(text);
  const length = payload.length;
  const lengthBytes = length < 126 ? 0 : length < 65536 ? 2 : 8;
  const header = Buffer.alloc(2 + lengthBytes + 4);
  header[0] = 0x81;
  header[1] = 0x80 | (length < 126 ? length : length < 65536 ? 126 : 127);
  if (lengthBytes === 2) header.writeUInt16BE(length, 2);
  if (lengthBytes === 8) header.writeBigUInt64BE(BigInt(length), 2);
  return Buffer.concat([header, payload]);
}

/** JSON text of about `size` bytes, repeating `item` inside one top-level array. */
function fill(size, item) {
  const count = Math.max(1, Math.floor((size - 2) / (item.length + 1)));
  return `[${Array.from({ length: count }, () => item).join(',')}]`;
}

/** The shapes, each of about `size` bytes. */
function shapes(size) {
  const nestedArrays = `${'['.repeat(63)}0${']'.repeat(63)}`;
  const nestedObjects = `${'{"a":'.repeat(63)}0${'}'.repeat(63)}`;
  const wideAtDepth = `${'['.repeat(62)}${fill(Math.floor(size / 2), '0')}${']'.repeat(62)}`;
  const emptyArrays = fill(size, '[]');
  return [
    ['flat: numbers', fill(size, '12345')],
    ['flat: one string', JSON.stringify('x'.repeat(size - 2))],
    ['flat: objects {"a":1}', fill(size, '{"a":1}')],
    ['empty arrays [] (most values per byte)', emptyArrays],
    ['64 deep arrays, repeated', fill(size, nestedArrays)],
    ['64 deep objects, repeated', fill(size, nestedObjects)],
    ['wide array at depth 63', wideAtDepth + ' '.repeat(Math.max(0, size - wideAtDepth.length))],
    ['string of brackets "[[[["', JSON.stringify('[{'.repeat(size / 2 - 1))],
    ['string of escapes "\\\\\\""', JSON.stringify('\\"'.repeat(Math.floor((size - 2) / 4)))],
    ['[[[[ 1 MiB deep (refused)', '['.repeat(size)],
    ['{"a":{"a": 1 MiB deep (refused)', '{"a":'.repeat(Math.floor(size / 5))],
  ];
}

const normal = [
  [
    'chat message, 100 B',
    JSON.stringify({ type: 'say', room: 'lobby', text: 'hello there, how are you today?', n: 1 }),
  ],
  [
    'order, 1 KiB',
    JSON.stringify({
      id: 'o-1',
      items: Array.from({ length: 12 }, (_, i) => ({ sku: `sku-${i}`, qty: i, price: 9.99, tags: ['a', 'b'] })),
    }),
  ],
  [
    'records, 16 KiB',
    JSON.stringify(Array.from({ length: 160 }, (_, i) => ({ id: i, name: `name ${i}`, ok: true, at: [1, 2] }))),
  ],
  ['text-heavy, 64 KiB', JSON.stringify({ body: 'lorem ipsum "quoted" [bracketed] {braced} \\ '.repeat(1500), n: 1 })],
];

function connect(port, path) {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let buffered = Buffer.alloc(0);
    socket.once('error', reject);
    socket.on('data', function onHead(chunk) {
      buffered = Buffer.concat([buffered, chunk]);
      const end = buffered.indexOf('\r\n\r\n');
      if (end === -1) return;
      socket.off('data', onHead);
      if (!buffered.subarray(0, 12).toString().includes('101')) reject(new Error(buffered.toString()));
      else resolve(socket);
    });
    socket.write(
      `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
    );
  });
}

/** Sends one frame and waits for the server's answer: a text frame or a close frame (then the end). */
function roundTrip(socket, bytes) {
  return new Promise((resolve) => {
    const done = (chunk) => {
      socket.off('data', done);
      socket.off('close', done);
      resolve(chunk && (chunk[0] & 0x0f) === 8 ? `close ${chunk.readUInt16BE(2)}` : 'ok');
    };
    socket.on('data', done);
    socket.on('close', done);
    socket.write(bytes);
  });
}

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

async function measure(server, port, path, bytes, count, fresh) {
  const ask = async (message) => {
    const answer = once(server, 'message');
    server.send(message);
    return (await answer)[0];
  };
  let socket = await connect(port, path);
  await roundTrip(socket, bytes); // warm
  if (fresh) socket.destroy();
  await ask('mark');
  let outcome = '';
  for (let i = 0; i < count; i++) {
    if (fresh) socket = await connect(port, path);
    outcome = await roundTrip(socket, bytes);
    if (fresh) socket.destroy();
  }
  const { cpuMicros, maxDelayMs } = await ask('read');
  if (!fresh) socket.destroy();
  return { cpu: cpuMicros / count, maxDelayMs, outcome };
}

async function drive() {
  const size = Number(args.size ?? 1024 * 1024);
  const rounds = Number(args.rounds ?? 5);
  const only = args.only;
  const server = fork(new URL(import.meta.url).pathname, ['server'], { stdio: 'inherit' });
  const [{ port }] = await once(server, 'message');

  for (const schema of only === 'normal' ? [] : ['any', 'json']) {
    console.log(
      `\n## Shapes of ${size} bytes, schema ${schema === 'any' ? 'z.unknown()' : 'recursive zod Json'}: server CPU (ms) and longest event-loop block (ms) per message`,
    );
    console.log(`medians of ${rounds} rounds, endpoints alternating; Node ${process.version}\n`);
    console.log('| shape | maxDepth 64: CPU | block | answer | maxDepth ∞: CPU | block | answer | ×flat (64) |');
    console.log('|---|---|---|---|---|---|---|---|');
    let flat;
    for (const [name, text] of shapes(size)) {
      const bytes = textFrame(text);
      const results = { bounded: [], unbounded: [] };
      for (let r = 0; r < rounds; r++) {
        for (const path of r % 2 === 0 ? ['bounded', 'unbounded'] : ['unbounded', 'bounded'])
          results[path].push(await measure(server, port, `/${schema}/${path}`, bytes, 2, true));
      }
      const row = (list) => [
        (median(list.map((x) => x.cpu)) / 1000).toFixed(1),
        median(list.map((x) => x.maxDelayMs)).toFixed(0),
        list.at(-1).outcome,
      ];
      const bounded = row(results.bounded);
      flat ??= Number(bounded[0]);
      console.log(
        `| ${name} | ${bounded.join(' | ')} | ${row(results.unbounded).join(' | ')} | ${(Number(bounded[0]) / flat).toFixed(1)} |`,
      );
    }
  }

  if (only === 'shapes') {
    server.kill();
    return;
  }
  console.log('\n## Ordinary messages, schema z.unknown(): server CPU per message (µs), with and without the scan\n');
  console.log('| message | bytes | maxDepth 64 | maxDepth ∞ | scan costs |');
  console.log('|---|---|---|---|---|');
  for (const [name, text] of normal) {
    const bytes = textFrame(text);
    const count = Math.max(200, Math.floor(2_000_000 / text.length));
    const results = { bounded: [], unbounded: [] };
    for (let r = 0; r < rounds * 2; r++) {
      for (const path of r % 2 === 0 ? ['bounded', 'unbounded'] : ['unbounded', 'bounded'])
        results[path].push((await measure(server, port, `/any/${path}`, bytes, count, false)).cpu);
    }
    const bounded = median(results.bounded);
    const unbounded = median(results.unbounded);
    console.log(
      `| ${name} | ${Buffer.byteLength(text)} | ${bounded.toFixed(1)} | ${unbounded.toFixed(1)} | ${(((bounded - unbounded) / unbounded) * 100).toFixed(1)}% |`,
    );
  }
  server.kill();
}

if (process.argv[2] === 'server') await serve();
else await drive();
