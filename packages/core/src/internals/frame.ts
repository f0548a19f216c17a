import * as ws from 'ws';

interface FrameOptions {
  fin: boolean;
  mask: boolean;
  opcode: number;
  readOnly: boolean;
  rsv1: boolean;
}
// ws exports its framer at run time (`WebSocket.Sender.frame`) but @types/ws does not declare it.
const { Sender } = ws as unknown as { Sender: { frame(data: Buffer, options: FrameOptions): Buffer[] } };

/**
 * One complete, unmasked, uncompressed server frame for a whole message: what a hub writes to
 * every subscriber's socket. Built with ws's own framer, so the bytes are exactly the ones
 * `ws.send` would produce.
 */
export function frameMessage(payload: string | Buffer, isBinary: boolean): Buffer {
  const parts = Sender.frame(typeof payload === 'string' ? Buffer.from(payload) : payload, {
    fin: true,
    mask: false,
    opcode: isBinary ? 2 : 1,
    readOnly: true,
    rsv1: false,
  });
  return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
}
