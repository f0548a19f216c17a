/**
 * Subprotocol negotiation (RFC 6455 §4.2.2, §11.3.4). Pure functions, no I/O.
 */
import { ErrorCode, withCode } from '../errors.js';

/** A token character as defined by RFC 7230 §3.2.6. */
function isTokenChar(code: number): boolean {
  return (
    code > 0x20 &&
    code < 0x7f &&
    code !== 0x22 &&
    code !== 0x28 &&
    code !== 0x29 &&
    code !== 0x2c &&
    code !== 0x2f &&
    !(code >= 0x3a && code <= 0x40) &&
    code !== 0x5b &&
    code !== 0x5c &&
    code !== 0x5d &&
    code !== 0x7b &&
    code !== 0x7d
  );
}

const isWhitespace = (code: number): boolean => code === 0x20 || code === 0x09;

/** A malformed header: a `SyntaxError` that names the index, with its code (docs/errors.md). */
function invalidSubprotocol(message: string): SyntaxError {
  return withCode(new SyntaxError(message), ErrorCode.INVALID_SUBPROTOCOL);
}

/**
 * Parses a `Sec-WebSocket-Protocol` request header into its tokens, in the client's order.
 * Spaces and tabs around commas are allowed. Throws `SyntaxError` naming the index of the first
 * bad character, an empty element, or a duplicate, with `code` `SWITCHYARD_ERR_INVALID_SUBPROTOCOL`.
 */
export function parseProtocols(header: string): string[] {
  const protocols: string[] = [];
  let offset = 0;
  for (const element of header.split(',')) {
    let first = 0;
    let last = element.length;
    while (first < last && isWhitespace(element.charCodeAt(first))) first++;
    while (last > first && isWhitespace(element.charCodeAt(last - 1))) last--;
    if (first === last) {
      throw invalidSubprotocol(`Empty subprotocol at index ${offset + first}`);
    }
    for (let i = first; i < last; i++) {
      if (!isTokenChar(element.charCodeAt(i))) {
        throw invalidSubprotocol(`Unexpected character at index ${offset + i}`);
      }
    }
    const protocol = element.slice(first, last);
    if (protocols.includes(protocol)) {
      throw invalidSubprotocol(`Duplicate subprotocol "${protocol}" at index ${offset + first}`);
    }
    protocols.push(protocol);
    offset += element.length + 1;
  }
  return protocols;
}

/** How an endpoint chooses a subprotocol: a preference list, or a function of the offer. */
export type ProtocolOption<Req> = readonly string[] | ((offered: string[], req: Req) => string | undefined);

/**
 * Picks the subprotocol to answer with. With a list, the server's preference order wins, as
 * `ws` and most servers do. Returns `undefined` when nothing matches.
 */
export function selectProtocol<Req>(offered: string[], option: ProtocolOption<Req>, req: Req): string | undefined {
  if (typeof option === 'function') {
    const chosen = option(offered, req);
    return chosen !== undefined && offered.includes(chosen) ? chosen : undefined;
  }
  for (const protocol of option) if (offered.includes(protocol)) return protocol;
  return undefined;
}

/**
 * The prefix of a bearer token carried as a subprotocol entry, as Kubernetes does
 * (`base64url.bearer.authorization.k8s.io.<token>`): browsers can't set an Authorization
 * header on a WebSocket, and a query string ends up in access logs.
 */
const BEARER_PREFIXES = ['base64url.bearer.authorization.k8s.io.', 'base64url.bearer.'] as const;

/**
 * Splits a bearer token entry off the client's offer. The token is base64url-encoded in the
 * entry (a subprotocol may not hold every character a token can); it is returned decoded, and
 * the offer without it, so that it is never selected or echoed.
 */
export function extractBearerToken(offered: readonly string[]): { protocols: string[]; token: string | undefined } {
  let token: string | undefined;
  const protocols: string[] = [];
  for (const entry of offered) {
    const prefix = BEARER_PREFIXES.find((p) => entry.startsWith(p));
    if (prefix === undefined) protocols.push(entry);
    else token ??= Buffer.from(entry.slice(prefix.length), 'base64url').toString('utf8');
  }
  return { protocols, token };
}
