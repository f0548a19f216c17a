/**
 * The client-to-server half of the fallback: reading a POST's body, checking its shape
 * (`{ seq, frames, ack? }`), and decoding each of its frames into what a WebSocket peer would
 * have sent (docs/fallback-protocol.md).
 */
import type { IncomingMessage } from 'node:http';
import { CloseCode, PostFrame, isSendableCloseCode } from '../protocol.js';
import { SESSION_HEADER } from './params.js';

/** A POST's body: the client's frames from index `seq` on, and the last event id it has. */
export interface PostBody {
  seq?: unknown;
  frames?: unknown;
  ack?: unknown;
}

/** Reads a request body up to `limit` bytes, or uses what a body parser already read. */
export async function readBody(req: IncomingMessage & { body?: unknown }, limit: number): Promise<string | undefined> {
  if (typeof req.body === 'string') return req.body;
  if (
    req.body !== undefined &&
    req.body !== null &&
    typeof req.body === 'object' &&
    !Buffer.isBuffer(req.body) &&
    Object.keys(req.body).length > 0
  ) {
    return JSON.stringify(req.body);
  }
  if (Buffer.isBuffer(req.body)) return req.body.toString();
  if (req.readableEnded) return '';
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) return undefined;
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString();
}

/** A POST whose body has the right shape, and the session it is for. */
export interface CheckedPost {
  readonly id: string;
  readonly message: PostBody;
}

/**
 * Parses a POST's body for the session `id` (from the header or the URL). Returns the POST, or
 * the message of a 400 when the body is not JSON of the right shape or no session is named.
 */
export function parsePostBody(body: string, id: string | undefined): CheckedPost | string {
  let message: PostBody;
  try {
    message = JSON.parse(body) as PostBody;
  } catch {
    return 'Malformed body: expected JSON { seq, frames }';
  }
  if (
    message === null ||
    typeof message !== 'object' ||
    !Number.isInteger(message.seq) ||
    !Array.isArray(message.frames) ||
    id === undefined ||
    (message.ack !== undefined && !Number.isInteger(message.ack))
  ) {
    return `Malformed body: expected JSON { seq, frames, ack? } and the ${SESSION_HEADER} header`;
  }
  return { id, message };
}

/** One client frame of a POST, decoded; `too-big` and `malformed` end the POST's delivery. */
export type ClientFrame =
  | { readonly kind: 'message'; readonly data: Buffer; readonly binary: boolean }
  | { readonly kind: 'pong'; readonly data: Buffer }
  | { readonly kind: 'close'; readonly code: number; readonly reason: string }
  | { readonly kind: 'too-big' }
  | { readonly kind: 'malformed'; readonly message: string };

const TOO_BIG: ClientFrame = { kind: 'too-big' };

/** Decodes one frame of a POST; a message over `maxPayload` bytes is `too-big`. */
export function decodeFrame(frame: unknown, maxPayload: number): ClientFrame {
  if (!Array.isArray(frame)) return { kind: 'malformed', message: 'Malformed frame' };
  const [kind, payload, reason] = frame as [unknown, unknown, unknown];
  if (kind === PostFrame.TEXT && typeof payload === 'string') {
    if (Buffer.byteLength(payload) > maxPayload) return TOO_BIG;
    return { kind: 'message', data: Buffer.from(payload), binary: false };
  }
  if (kind === PostFrame.BINARY && typeof payload === 'string') {
    const data = Buffer.from(payload, 'base64');
    if (data.length > maxPayload) return TOO_BIG;
    return { kind: 'message', data, binary: true };
  }
  if (kind === PostFrame.PONG && typeof payload === 'string') {
    return { kind: 'pong', data: Buffer.from(payload, 'base64') };
  }
  if (kind === PostFrame.CLOSE) {
    const code = typeof payload === 'number' ? payload : CloseCode.NO_STATUS;
    // A code a peer may not send (1005, 1006, out of range) is the client's protocol error.
    return {
      kind: 'close',
      code: isSendableCloseCode(code) ? code : CloseCode.PROTOCOL_ERROR,
      reason: typeof reason === 'string' ? reason : '',
    };
  }
  return { kind: 'malformed', message: `Unknown frame ${JSON.stringify(kind)}` };
}
