/**
 * The opening handshake as `curl -v` shows an HTTP exchange: `>` lines for the request that
 * went out, `<` lines for the response, `*` lines for what the client concluded. Pure
 * functions of the request and response objects.
 */
import { createHash } from 'node:crypto';
import type { ClientRequest, IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';

/** The GUID that RFC 6455 §1.3 appends to the key before hashing. */
export const WEBSOCKET_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/** The `Sec-WebSocket-Accept` a server must answer to `key`. */
export function expectedAccept(key: string): string {
  return createHash('sha1')
    .update(key + WEBSOCKET_GUID)
    .digest('base64');
}

/** The request line and headers, in the order and spelling they go out on the wire. */
export function requestLines(req: ClientRequest): string[] {
  const lines = [`${req.method} ${req.path} HTTP/1.1`];
  for (const name of req.getRawHeaderNames()) {
    const value = req.getHeader(name);
    for (const one of Array.isArray(value) ? value : [value]) lines.push(`${name}: ${String(one)}`);
  }
  return lines;
}

/** The status line and headers of a response, as received. */
export function responseLines(res: IncomingMessage): string[] {
  const lines = [`HTTP/${res.httpVersion} ${res.statusCode ?? ''} ${res.statusMessage ?? ''}`.trimEnd()];
  for (let i = 0; i + 1 < res.rawHeaders.length; i += 2) lines.push(`${res.rawHeaders[i]}: ${res.rawHeaders[i + 1]}`);
  return lines;
}

/** The outcome of checking `Sec-WebSocket-Accept`. */
export interface AcceptCheck {
  /** True when the server proved it read this handshake's key. */
  ok: boolean;
  /** One line saying what was checked and what came out. */
  summary: string;
}

/** Checks the server's `Sec-WebSocket-Accept` against the key the client sent. */
export function checkAccept(key: string, accept: string | undefined): AcceptCheck {
  const expected = expectedAccept(key);
  const how = `base64(SHA-1(Sec-WebSocket-Key + "${WEBSOCKET_GUID}"))`;
  if (accept === expected) return { ok: true, summary: `Sec-WebSocket-Accept is correct: ${how} = ${expected}` };
  if (accept === undefined)
    return { ok: false, summary: `Sec-WebSocket-Accept is missing; it should be ${how} = ${expected}` };
  return { ok: false, summary: `Sec-WebSocket-Accept is WRONG: expected ${how} = ${expected}, got ${accept}` };
}

/** What the TLS layer negotiated and who the server claims to be, for `*` lines. */
export function tlsLines(socket: TLSSocket, insecure: boolean): string[] {
  const lines: string[] = [];
  const cipher = socket.getCipher();
  lines.push(`TLS: ${socket.getProtocol() ?? 'unknown version'}, ${cipher.standardName || cipher.name}`);
  const certificate = socket.getPeerCertificate();
  if (certificate && Object.keys(certificate).length > 0) {
    const subject = certificate.subject?.CN ?? '(no common name)';
    const issuer = certificate.issuer?.CN ?? '(no common name)';
    const names = certificate.subjectaltname ? `; names: ${certificate.subjectaltname}` : '';
    lines.push(
      `Server certificate: CN=${subject}, issued by CN=${issuer}${names}; valid until ${certificate.valid_to}`,
    );
    lines.push(`Certificate SHA-256 fingerprint: ${certificate.fingerprint256}`);
  }
  if (socket.authorized) {
    lines.push('Certificate verified');
  } else {
    const reason = socket.authorizationError ? String(socket.authorizationError) : 'unknown reason';
    lines.push(`Certificate NOT verified (${reason})${insecure ? ': accepted because of --insecure' : ''}`);
  }
  return lines;
}
