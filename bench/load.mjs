/**
 * The load generator: its own process, raw `net` sockets, every frame built and masked once, and
 * replies counted by their byte length, never parsed. The runner drives it over IPC.
 *
 * Commands (each answers once):
 *   echo       { port, path, connections, size, tcp }   open the connections, then ping-pong
 *                                                       forever, one message in flight on each
 *   handshakes { port, path, concurrency, mode }        loops of open / one echo / close
 *                                                       ('ws'), connect / echo / end ('tcp'), a
 *                                                       plain GET with Connection: close ('http'),
 *                                                       or open / join the namespace / close
 *                                                       ('socket.io')
 *   open       { port, path, connections, tcp }         open and hold; count every byte received
 *   count      {}                                       { done, failed, bytes } so far
 *   more       { total }                                after an echo's total: that many more
 *   waitDone   {}                                       with `total` given to echo or handshakes:
 *                                                       resolves once exactly that many are done
 *   waitBytes  { total }                                resolves once `bytes` reached `total`
 *   hold       { port, path, connections, mode }        open and hold, answering the server's
 *                                                       heartbeat: WebSocket pings ('ws'), engine.io
 *                                                       pings ('socket.io'), SSE pings by POST ('sse')
 *   arm        {}                                       start a broadcast round: forget arrivals
 *   arrivals   { count }                                once `count` held connections have a
 *                                                       message of this round: their arrival times
 *   stop       {}                                       stop the loops, drop every socket
 */
import net from 'node:net';

const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
const MASK = Buffer.from([0x37, 0xfa, 0x21, 0x3d]);
const OPCODE_BINARY = 0x2;
const OPCODE_CLOSE = 0x8;
// Every connection takes the next loopback source address, so that tens of thousands of
// short connections never run out of ephemeral ports.
const SOURCE_ADDRESSES = 60;

/** A complete client frame: FIN, the opcode, the mask bit, and the payload masked once here. */
export function clientFrame(opcode, payload) {
  const length = payload.length;
  const head =
    length < 126
      ? Buffer.from([0x80 | opcode, 0x80 | length])
      : length < 65536
        ? Buffer.from([0x80 | opcode, 0x80 | 126, length >> 8, length & 0xff])
        : Buffer.concat([Buffer.from([0x80 | opcode, 0x80 | 127]), bigLength(length)]);
  const masked = Buffer.alloc(length);
  for (let i = 0; i < length; i++) masked[i] = payload[i] ^ MASK[i & 3];
  return Buffer.concat([head, MASK, masked]);
}

function bigLength(length) {
  const bytes = Buffer.alloc(8);
  bytes.writeBigUInt64BE(BigInt(length));
  return bytes;
}

/** The length of the server's unmasked frame carrying `length` payload bytes. */
export function serverFrameLength(length) {
  return length + (length < 126 ? 2 : length < 65536 ? 4 : 10);
}

const state = {
  stopped: false,
  done: 0,
  failed: 0,
  bytes: 0,
  sockets: new Set(),
  waiters: [],
  // With `total` (bench/instructions.mjs): how many operations may start, and how many did.
  limit: Infinity,
  started: 0,
  finished: undefined,
  echoing: [],
};

/** Starts one more operation unless `total` of them have started. */
function mayStart() {
  if (state.stopped || state.started >= state.limit) return false;
  state.started++;
  return true;
}

function completed() {
  state.done++;
  if (state.done + state.failed >= state.limit) state.finished?.();
}
let nextSource = 0;

function connect(port) {
  nextSource = (nextSource + 1) % SOURCE_ADDRESSES;
  const socket = net.connect({ port, host: '127.0.0.1', localAddress: `127.0.0.${nextSource + 2}`, noDelay: true });
  state.sockets.add(socket);
  socket.on('close', forget);
  return socket;
}

function forget() {
  state.sockets.delete(this);
}

function upgradeRequest(port, path) {
  return Buffer.from(
    `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\n` +
      `Connection: Upgrade\r\nSec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    'latin1',
  );
}

const HEADER_END = Buffer.from('\r\n\r\n');

/** The status code of a response head, or 0 while the head is incomplete. */
function statusOf(head) {
  if (head.indexOf(HEADER_END) === -1) return 0;
  return (head[9] - 48) * 100 + (head[10] - 48) * 10 + (head[11] - 48);
}

/** Opens one WebSocket: resolves with the socket and the bytes that followed the 101. */
function openWebSocket(port, request) {
  return new Promise((resolve, reject) => {
    const socket = connect(port);
    let head = Buffer.alloc(0);
    const onData = (chunk) => {
      head = Buffer.concat([head, chunk]);
      const status = statusOf(head);
      if (status === 0) return;
      socket.removeListener('data', onData);
      socket.removeListener('error', reject);
      if (status !== 101) {
        socket.destroy();
        reject(new Error(`HTTP ${status} instead of 101: ${head.toString('latin1', 0, 200)}`));
        return;
      }
      const end = head.indexOf(HEADER_END) + 4;
      resolve({ socket, rest: head.length - end, extra: head.subarray(end) });
    };
    socket.on('data', onData);
    socket.on('error', reject);
    socket.on('connect', () => socket.write(request));
  });
}

function openTcp(port) {
  return new Promise((resolve, reject) => {
    const socket = connect(port);
    socket.on('error', reject);
    socket.on('connect', () => {
      socket.removeListener('error', reject);
      resolve({ socket, rest: 0 });
    });
  });
}

/** Opens `count` connections, at most `inflight` handshakes at a time. */
async function openMany({ port, path, connections, tcp, inflight = 100, opener, attach }) {
  const request = upgradeRequest(port, path);
  const opened = [];
  let next = 0;
  const worker = async () => {
    while (next < connections) {
      next++;
      try {
        const { socket, rest, extra } = await (opener ? opener() : tcp ? openTcp(port) : openWebSocket(port, request));
        socket.on('error', () => {});
        // Bytes that arrive before a 'data' listener is attached are lost: attach at once.
        attach?.(socket, extra);
        opened.push({ socket, rest, extra });
      } catch {
        state.failed++;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(inflight, connections) }, worker));
  return opened;
}

const kPending = Symbol('pending');
const kReply = Symbol('reply');
const kFrame = Symbol('frame');

function onEchoData(chunk) {
  let pending = this[kPending] + chunk.length;
  const reply = this[kReply];
  while (pending >= reply) {
    pending -= reply;
    completed();
    if (mayStart()) this.write(this[kFrame]);
  }
  this[kPending] = pending;
}

async function echo({ port, path, connections, size, tcp, total }) {
  limit(total);
  const frame = clientFrame(OPCODE_BINARY, Buffer.alloc(size, 0x61));
  // The raw TCP floor sends the client's frame back as it came; WebSocket servers answer with
  // an unmasked frame of the same payload.
  const reply = tcp ? frame.length : serverFrameLength(size);
  const opened = await openMany({ port, path, connections, tcp });
  for (const { socket, rest } of opened) {
    socket[kPending] = rest;
    socket[kReply] = reply;
    socket[kFrame] = frame;
    socket.on('data', onEchoData);
    state.echoing.push(socket);
    if (mayStart()) socket.write(frame);
  }
  return { opened: opened.length, failed: state.failed };
}

const CLOSE_FRAME = clientFrame(OPCODE_CLOSE, Buffer.from([0x03, 0xe8]));

function handshakes({ port, path, concurrency, mode, total, timeout = 10_000 }) {
  limit(total);
  const echoFrame = clientFrame(OPCODE_BINARY, Buffer.alloc(64, 0x61));
  const echoReply = mode === 'tcp' ? echoFrame.length : serverFrameLength(64);
  const request =
    mode === 'http'
      ? Buffer.from(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\n\r\n`, 'latin1')
      : upgradeRequest(port, mode === 'socket.io' ? '/socket.io/?EIO=4&transport=websocket' : path);

  const loop = () => {
    if (!mayStart()) return;
    const socket = connect(port);
    // 0: waiting for the response head; 1: for the echo; 2: closing; 3: complete.
    let phase = mode === 'tcp' ? 1 : 0;
    let head = null;
    let got = 0;
    let failed = false;
    let sio = '';
    let joined = false;
    const fail = () => {
      if (!failed && phase !== 3) state.failed++;
      failed = true;
      socket.destroy();
    };
    const timer = setTimeout(fail, timeout);
    socket.on('connect', () => socket.write(mode === 'tcp' ? echoFrame : request));
    socket.on('data', (chunk) => {
      if (phase === 0) {
        head = head ? Buffer.concat([head, chunk]) : chunk;
        const status = statusOf(head);
        if (status === 0) return;
        if (mode === 'http') {
          if (status !== 200) fail();
          phase = 2;
          return;
        }
        if (status !== 101) return fail();
        phase = 1;
        got = head.length - (head.indexOf(HEADER_END) + 4);
        if (mode === 'socket.io') {
          // engine.io's open packet, then "40" to join the namespace; done at its "40{...}".
          sio = head.subarray(head.indexOf(HEADER_END) + 4).toString('latin1');
          got = 0;
        } else socket.write(echoFrame);
      } else if (phase === 1) {
        if (mode === 'socket.io') sio += chunk.toString('latin1');
        else got += chunk.length;
      } else {
        return;
      }
      if (mode === 'socket.io') {
        if (!joined && sio.includes('0{')) {
          joined = true;
          socket.write(SOCKET_IO_CONNECT);
        }
        if (sio.includes('40{')) got = echoReply;
      }
      if (phase === 1 && got >= echoReply) {
        phase = 2;
        if (mode === 'tcp') socket.end();
        else socket.write(CLOSE_FRAME);
      }
    });
    socket.on('error', fail);
    socket.on('close', () => {
      clearTimeout(timer);
      if (phase === 2 && !failed) {
        phase = 3;
        completed();
      } else {
        if (!failed) state.failed++;
        if (state.done + state.failed >= state.limit) state.finished?.();
      }
      loop();
    });
  };
  for (let i = 0; i < concurrency; i++) loop();
  return {};
}

/** `total` operations, counted from now; without it, unlimited. */
function limit(total) {
  state.limit = total ?? Infinity;
  state.started = 0;
  state.done = 0;
  state.failed = 0;
}

function onHeldData(chunk) {
  state.bytes += chunk.length;
  if (state.waiters.length > 0) settleWaiters();
}

function settleWaiters() {
  state.waiters = state.waiters.filter(({ total, resolve }) => {
    if (state.bytes < total) return true;
    resolve({ bytes: state.bytes });
    return false;
  });
}

async function open(options) {
  const opened = await openMany(options);
  for (const { socket, rest } of opened) {
    state.bytes += rest;
    socket.on('data', onHeldData);
  }
  return { opened: opened.length, failed: state.failed };
}

function stop() {
  state.stopped = true;
  for (const socket of state.sockets) socket.destroy();
  state.sockets.clear();
  return {};
}

// Held connections that answer the heartbeat, and broadcast arrival times (bench/idle.mjs).

const wallClock = () => performance.timeOrigin + performance.now();
const OPCODE_TEXT = 0x1;
const OPCODE_PING = 0x9;
const OPCODE_PONG = 0xa;
const ENGINE_IO_PONG = clientFrame(OPCODE_TEXT, Buffer.from('3'));
const SOCKET_IO_CONNECT = clientFrame(OPCODE_TEXT, Buffer.from('40'));
const kBuffer = Symbol('buffer');
const kRound = Symbol('round');
const kMode = Symbol('mode');
const rounds = { round: 0, arrivals: [], waiters: [] };

function arrived(socket) {
  if (socket[kRound] === rounds.round) return;
  socket[kRound] = rounds.round;
  rounds.arrivals.push(wallClock());
  if (rounds.waiters.length > 0) {
    rounds.waiters = rounds.waiters.filter(({ count, resolve }) => {
      if (rounds.arrivals.length < count) return true;
      resolve(rounds.arrivals);
      return false;
    });
  }
}

/** Server frames are never masked: split them off, answer pings, note data frames. */
function onHeldFrames(chunk) {
  let buffer = this[kBuffer] ? Buffer.concat([this[kBuffer], chunk]) : chunk;
  for (;;) {
    if (buffer.length < 2) break;
    let length = buffer[1] & 0x7f;
    let offset = 2;
    if (length === 126) {
      if (buffer.length < 4) break;
      length = buffer.readUInt16BE(2);
      offset = 4;
    } else if (length === 127) {
      if (buffer.length < 10) break;
      length = Number(buffer.readBigUInt64BE(2));
      offset = 10;
    }
    if (buffer.length < offset + length) break;
    const opcode = buffer[0] & 0x0f;
    const payload = buffer.subarray(offset, offset + length);
    buffer = buffer.subarray(offset + length);
    if (opcode === OPCODE_PING) this.write(clientFrame(OPCODE_PONG, payload));
    else if (opcode === OPCODE_TEXT || opcode === OPCODE_BINARY) {
      if (this[kMode] !== 'socket.io') arrived(this);
      // engine.io: 0 open, 2 ping, 40 connected to the namespace, 42 an event.
      else if (payload[0] === 0x32 && length === 1) this.write(ENGINE_IO_PONG);
      else if (payload[0] === 0x30) this.write(SOCKET_IO_CONNECT);
      else if (payload[0] === 0x34 && payload[1] === 0x32) arrived(this);
    }
  }
  this[kBuffer] = buffer.length > 0 ? Buffer.from(buffer) : undefined;
}

const sseAgent = { sockets: 0 };

/** Opens one SSE session of the fallback protocol; resolves once its `open` event arrived. */
function openSse(port, path) {
  return new Promise((resolve, reject) => {
    const socket = connect(port);
    const separator = path.includes('?') ? '&' : '?';
    socket.on('connect', () =>
      socket.write(
        `GET ${path}${separator}__sy=sse HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAccept: text/event-stream\r\n\r\n`,
      ),
    );
    socket.on('error', reject);
    let text = '';
    const onData = (chunk) => {
      text += chunk.toString('latin1');
      const open = /event: open\ndata: (\{[^\n]*\})/.exec(text);
      if (!open) {
        if (text.length > 4096 || (text.startsWith('HTTP/1.1 ') && !text.startsWith('HTTP/1.1 200')))
          reject(new Error(`no SSE open event: ${text.slice(0, 120)}`));
        return;
      }
      socket.removeListener('data', onData);
      socket.removeListener('error', reject);
      socket.session = JSON.parse(open[1]).session;
      socket.frames = 0;
      resolve({ socket, rest: 0, extra: undefined });
    };
    socket.on('data', onData);
  });
}

/** An SSE stream's events: a message is an arrival; a ping is answered with a POST pong. */
function onSseData(chunk) {
  const text = (this[kBuffer] ?? '') + chunk.toString('latin1');
  const events = text.split('\n\n');
  this[kBuffer] = events.pop();
  for (const event of events) {
    if (event.includes('\ndata: "') || event.startsWith('data: "')) arrived(this);
    const ping = /event: ping\ndata: ([^\n]*)/.exec(event);
    if (ping) ssePong(this, ping[1]);
  }
}

function ssePong(stream, data) {
  const body = Buffer.from(JSON.stringify({ seq: stream.frames++, frames: [['pong', data]] }));
  const socket = connect(stream.remotePort);
  sseAgent.sockets++;
  socket.on('connect', () =>
    socket.end(
      Buffer.concat([
        Buffer.from(
          `POST ${stream.path}${stream.path.includes('?') ? '&' : '?'}__sy=post HTTP/1.1\r\nHost: 127.0.0.1:${stream.remotePort}\r\n` +
            `Switchyard-Session: ${stream.session}\r\nContent-Type: text/plain;charset=UTF-8\r\n` +
            `Content-Length: ${body.length}\r\nConnection: close\r\n\r\n`,
          'latin1',
        ),
        body,
      ]),
    ),
  );
  socket.on('error', () => {});
  socket.resume();
}

async function hold({ port, path, connections, mode }) {
  const attach = (socket, extra) => {
    socket[kMode] = mode;
    if (mode === 'sse') {
      socket.path = path;
      socket.on('data', onSseData);
    } else {
      socket.on('data', onHeldFrames);
      if (extra?.length > 0) onHeldFrames.call(socket, extra);
    }
  };
  const opened = await openMany({
    port,
    path: mode === 'socket.io' ? '/socket.io/?EIO=4&transport=websocket' : path,
    connections,
    opener: mode === 'sse' ? () => openSse(port, path) : undefined,
    attach,
  });
  return { opened: opened.length, failed: state.failed };
}

const COMMANDS = {
  hold,
  arm() {
    rounds.round++;
    rounds.arrivals = [];
    return {};
  },
  arrivals: ({ count }) =>
    new Promise((resolve) => {
      if (rounds.arrivals.length >= count) resolve(rounds.arrivals);
      else rounds.waiters.push({ count, resolve });
    }),
  pongPosts: () => sseAgent.sockets,
  echo,
  handshakes,
  open,
  count: () => ({ done: state.done, failed: state.failed, bytes: state.bytes }),
  waitBytes: ({ total }) =>
    new Promise((resolve) => {
      state.waiters.push({ total, resolve });
      settleWaiters();
    }),
  // After an echo's `total`: exactly `total` more messages on the same connections.
  more: ({ total }) => {
    limit(total);
    for (const socket of state.echoing) if (mayStart()) socket.write(socket[kFrame]);
    return {};
  },
  waitDone: () =>
    new Promise((resolve) => {
      const answer = () => resolve({ done: state.done, failed: state.failed });
      if (state.done + state.failed >= state.limit) answer();
      else state.finished = answer;
    }),
  stop,
};

process.on('message', (message) => {
  Promise.resolve()
    .then(() => COMMANDS[message.cmd](message))
    .then(
      (result) => process.send({ id: message.id, result }),
      (error) => process.send({ id: message.id, error: String(error?.stack ?? error) }),
    );
});
process.on('disconnect', () => process.exit(0));
process.send({ type: 'ready' });
