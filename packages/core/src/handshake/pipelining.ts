/**
 * Pipelining: an upgrade that arrives behind an earlier request on the same connection waits
 * for that request's answer, so that answers go out in order and never interleave.
 */
import type { ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { responseOn } from '../internals/node.js';

/** Bytes a client may send after an upgrade that waits its turn, before it is answered. */
const MAX_HELD_BYTES = 64 * 1024;

/**
 * Pipelining: a client may send a plain request and an upgrade in one write. Node hands the
 * upgrade over as soon as it has parsed it, while the earlier request's response may still be
 * in progress (Fastify answers on a later turn, Express's 404 too, an SSE stream never ends)
 * and holds the socket. The upgrade waits for every earlier response to finish, so answers go
 * out in order and never interleave; Node's own finish handler assigns the socket to each
 * queued response in turn.
 *
 * Node stopped reading the socket when it handed the upgrade over, so while it waits nothing
 * would notice the client leave: the socket would stay open until a write failed. It is read
 * meanwhile; what arrives is kept for the WebSocket (up to MAX_HELD_BYTES: a client that sends
 * more before its handshake is answered is cut off, and so is one that ends its side). Resolves with those bytes, or with
 * `undefined` when the socket cannot carry an answer any more (the client left, or an earlier
 * response was the connection's last).
 */
export function afterEarlierResponses(
  socket: Duplex,
  own: ServerResponse | undefined,
): Promise<Buffer | undefined> | Buffer | undefined {
  const earlier = responseOn(socket, own);
  if (!earlier || earlier === own) return socket.destroyed || !socket.writable ? undefined : EMPTY;
  return new Promise<Buffer | undefined>((resolve) => {
    const held: Buffer[] = [];
    let size = 0;
    let current = earlier;
    const hold = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > MAX_HELD_BYTES) socket.destroy();
      else held.push(chunk);
    };
    // The client ended its side before its upgrade was answered. HTTP sockets are half-open
    // here, so 'close' would wait for the earlier response (forever, for an SSE stream): the
    // client is gone for a WebSocket, so the connection goes, as Node ends it for plain HTTP.
    const ended = (): void => {
      socket.destroy();
    };
    const settle = (): void => {
      current.removeListener('finish', next);
      current.removeListener('close', next);
      socket.removeListener('close', next);
      socket.removeListener('data', hold);
      socket.removeListener('end', ended);
      socket.pause();
      // As Node leaves an upgraded socket: the next 'data' listener (ws's) starts the flow.
      (socket as Duplex & { readableFlowing: boolean | null }).readableFlowing = null;
      resolve(socket.destroyed || !socket.writable ? undefined : Buffer.concat(held));
    };
    const next = (): void => {
      current.removeListener('finish', next);
      current.removeListener('close', next);
      // Node's own 'finish' handler ran first (it listens from the start) and has moved the
      // socket on to the next queued response, if any: wait for that one as well.
      const following = responseOn(socket, own);
      if (socket.destroyed || !following || following === own) return settle();
      current = following;
      watch();
    };
    const watch = (): void => {
      current.once('finish', next);
      current.once('close', next);
    };
    watch();
    socket.once('close', next);
    socket.once('end', ended);
    socket.on('data', hold);
  });
}

const EMPTY = Buffer.alloc(0);
