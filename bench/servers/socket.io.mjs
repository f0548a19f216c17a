/**
 * socket.io, WebSocket transport only, with its default heartbeat (a ping every 25 s). Every
 * connection joins the broadcast room; a broadcast is one `io.to(room).emit`.
 */
import http from 'node:http';
import { Server } from 'socket.io';
import { TOPIC, serve } from './_harness.mjs';

const server = http.createServer();
const io = new Server(server, { transports: ['websocket'] });
io.on('connection', (socket) => socket.join(TOPIC));

serve({
  server,
  publish: (payload) => io.to(TOPIC).emit('m', payload),
  subscribers: () => io.of('/').adapter.rooms.get(TOPIC)?.size ?? 0,
});
