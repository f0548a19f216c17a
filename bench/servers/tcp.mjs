/**
 * The physical floor: a TCP server that echoes bytes back and, for broadcast, writes one
 * pre-framed WebSocket message to every socket. No HTTP, no WebSocket parsing.
 */
import net from 'node:net';
import { serve } from './_harness.mjs';

const sockets = new Set();

function echo(chunk) {
  this.write(chunk);
}

function forget() {
  sockets.delete(this);
}

const server = net.createServer({ noDelay: true }, (socket) => {
  sockets.add(socket);
  socket.on('data', echo);
  socket.on('close', forget);
  socket.on('error', () => {});
});

/** A complete unmasked text frame, built once per publish like a hub does. */
function frame(payload) {
  const data = Buffer.from(payload);
  const head =
    data.length < 126
      ? Buffer.from([0x81, data.length])
      : Buffer.from([0x81, 126, data.length >> 8, data.length & 0xff]);
  return Buffer.concat([head, data]);
}

serve({
  server,
  publish(payload) {
    const bytes = frame(payload);
    for (const socket of sockets) socket.write(bytes);
  },
  subscribers: () => sockets.size,
});
