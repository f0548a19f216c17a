import { STATUS_CODES, validateHeaderName, validateHeaderValue } from 'node:http';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import * as wsModule from 'ws';
import type { RejectionHeaders } from '../errors.js';
import { HandshakeRejection } from '../errors.js';
import { parseProtocols } from './subprotocol.js';

const KEY_PATTERN = /^[+/0-9A-Za-z]{22}==$/;

/** ws's own header parsers and permessage-deflate class; @types/ws leaves them out. */
const {
  extension: wsExtension,
  subprotocol: wsSubprotocol,
  PerMessageDeflate,
} = wsModule as unknown as {
  subprotocol: { parse(header: string): Set<string> };
  extension: { parse(header: string): Record<string, Array<Record<string, Array<string | true>>>> };
  PerMessageDeflate: new (
    options: object,
    isServer?: boolean,
    maxPayload?: number,
  ) => { accept(offers: Array<Record<string, Array<string | true>>>): unknown };
};

/**
 * True when a comma-separated header lists `token` (lower-case), in any case. Runs several times
 * per handshake, so the common one-token value is compared without allocating.
 */
function hasToken(header: string | undefined, token: string): boolean {
  if (!header) return false;
  if (header.length === token.length) return equalsLowerCase(header, token);
  for (const part of header.split(',')) if (part.trim().toLowerCase() === token) return true;
  return false;
}

/** `value.toLowerCase() === lower` for an ASCII `lower`, without a new string. */
function equalsLowerCase(value: string, lower: string): boolean {
  for (let i = 0; i < lower.length; i++) {
    // Setting bit 0x20 lower-cases A-Z; only letters may differ from `lower` by it.
    const code = value.charCodeAt(i);
    const want = lower.charCodeAt(i);
    if (code !== want && !(want >= 0x61 && want <= 0x7a && (code | 0x20) === want)) return false;
  }
  return true;
}

/**
 * True when the request asks for a WebSocket (`Upgrade: websocket`). Deliberately loose: a
 * request that asks but gets the rest wrong must reach the checks and get a clear 4xx, rather
 * than fall through to a page handler.
 */
export function isWebSocketRequest(req: Pick<IncomingMessage, 'headers'>): boolean {
  return hasToken(req.headers.upgrade, 'websocket');
}

/** True when llhttp stops at this request for an upgrade: both `Upgrade` and `Connection: upgrade`. */
export function asksForUpgrade(req: Pick<IncomingMessage, 'headers'>): boolean {
  return isWebSocketRequest(req) && hasToken(req.headers.connection, 'upgrade');
}

/**
 * Checks the parts of the handshake that don't depend on the endpoint's settings (RFC 6455
 * §4.2.1). Returns the client's offered subprotocols, or a rejection to send.
 */
export function checkHandshake(req: IncomingMessage): string[] | HandshakeRejection {
  if (req.method !== 'GET') {
    return new HandshakeRejection(405, `WebSocket handshakes must use GET, not ${req.method ?? 'no method'}`, {
      Allow: 'GET',
    });
  }
  if (req.httpVersionMajor < 1 || (req.httpVersionMajor === 1 && req.httpVersionMinor < 1)) {
    return new HandshakeRejection(400, 'WebSocket handshakes need HTTP/1.1 or later');
  }
  if (!req.headers.host) {
    // Node checks Host only for requests it parses as HTTP; upgrades routed from the 'upgrade'
    // event skip that check (RFC 6455 §4.1, RFC 9112 §3.2).
    return new HandshakeRejection(400, 'Missing Host header');
  }
  if (!hasToken(req.headers.connection, 'upgrade')) {
    return new HandshakeRejection(400, 'Missing "Connection: Upgrade" header');
  }
  const upgrade = req.headers.upgrade;
  // ws accepts exactly one token and answers anything else (`websocket, foo`, or two Upgrade
  // headers, which Node joins) with its own 400, without calling back: refused here first, so
  // no place under the caps is reserved for it.
  if (upgrade === undefined || upgrade.length !== 9 || !equalsLowerCase(upgrade, 'websocket')) {
    return new HandshakeRejection(400, 'Invalid Upgrade header: expected exactly "websocket"');
  }
  const version = req.headers['sec-websocket-version'];
  if (version !== '13') {
    return new HandshakeRejection(
      426,
      version === undefined
        ? 'Missing Sec-WebSocket-Version header; this server speaks version 13'
        : `Unsupported Sec-WebSocket-Version ${JSON.stringify(version)}; this server speaks version 13`,
      { 'Sec-WebSocket-Version': '13' },
    );
  }
  const key = req.headers['sec-websocket-key'];
  if (key === undefined) return new HandshakeRejection(400, 'Missing Sec-WebSocket-Key header');
  if (!KEY_PATTERN.test(key)) {
    return new HandshakeRejection(400, 'Invalid Sec-WebSocket-Key header: expected 16 random bytes in base64');
  }
  const header = req.headers['sec-websocket-protocol'];
  if (header === undefined) return [];
  try {
    const offered = parseProtocols(header);
    // ws parses the header again during the upgrade, a little more strictly (no whitespace at
    // either end, which Node trims anyway), and answers what it refuses itself: ask it first.
    wsSubprotocol.parse(header);
    return offered;
  } catch (error) {
    return new HandshakeRejection(400, `Invalid Sec-WebSocket-Protocol header: ${(error as Error).message}`);
  }
}

/**
 * Checks `Sec-WebSocket-Extensions` as ws will during the upgrade, with ws's own parser and
 * permessage-deflate negotiation, when the endpoint compresses (otherwise ws ignores the header).
 * ws answers a header it can't parse or accept (`server_max_window_bits=99`) with 400 itself and
 * never calls back, so this runs before a place under the caps is reserved.
 */
export function checkExtensions(
  req: IncomingMessage,
  deflate: object | undefined,
  maxPayload: number,
): HandshakeRejection | undefined {
  const header = req.headers['sec-websocket-extensions'];
  if (deflate === undefined || header === undefined) return undefined;
  try {
    const offer = wsExtension.parse(header)['permessage-deflate'];
    // ws >= 8.19 takes one options object; older ones (isServer, maxPayload) as arguments.
    if (offer) new PerMessageDeflate({ ...deflate, isServer: true, maxPayload }, true, maxPayload).accept(offer);
  } catch (error) {
    return new HandshakeRejection(400, `Invalid Sec-WebSocket-Extensions header: ${(error as Error).message}`);
  }
  return undefined;
}

function destroySocket(this: Duplex): void {
  this.destroy();
}

/**
 * The one rejection path: writes a complete HTTP response with a short text body and
 * `Connection: close` to a socket that has already left Node's HTTP machinery, then closes it.
 * A `Content-Type` among `headers` replaces the text type, and the message is then the body
 * exactly as given (no newline added): a JSON error, say.
 */
export function rejectHandshake(socket: Duplex, status: number, message: string, headers: RejectionHeaders = {}): void {
  if (socket.destroyed || !socket.writable) {
    socket.destroy();
    return;
  }
  let head = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\n`;
  let type: string | undefined;
  try {
    for (const [name, value] of Object.entries(headers)) {
      const lower = name.toLowerCase();
      if (lower === 'connection' || lower === 'content-length') continue;
      for (const one of Array.isArray(value) ? value : [String(value)]) {
        validateHeaderName(name);
        validateHeaderValue(name, one);
        if (lower === 'content-type') type = one;
        else head += `${name}: ${one}\r\n`;
      }
    }
  } catch {
    rejectHandshake(socket, 500, 'Internal Server Error: the upgrade hook rejected with an invalid header');
    return;
  }
  const body = type === undefined ? `${message}\n` : message;
  head += `Connection: close\r\nContent-Type: ${type ?? 'text/plain; charset=utf-8'}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n`;
  // Read and discard whatever the client still sends, so that closing does not turn into a
  // TCP reset that could destroy the response before the client reads it.
  socket.resume();
  socket.end(head + body);
  socket.once('finish', scheduleDestroy);
}

function scheduleDestroy(this: Duplex): void {
  setTimeout(destroySocket.bind(this), 1000).unref();
}
