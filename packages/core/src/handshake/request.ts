import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';

/** Query-string values: a repeated key keeps every value, in order. */
export type Query = Record<string, string | string[]>;

/**
 * What a connection remembers of its handshake request. It copies only what handlers need, so
 * that no IncomingMessage (and the socket, parser and buffers it holds) stays alive per
 * connection.
 */
/** Where a request came from: its socket, read only when the address is asked for. */
export interface Peer {
  readonly remoteAddress?: string | undefined;
}

export class RequestInfo {
  /** The full request URL as the client sent it, e.g. `/chat?room=a`. */
  readonly url: string;
  /**
   * The request headers, lower-cased as Node delivers them. A connection's request keeps only
   * those of the `keepHeaders` option (by default host, origin, user-agent and the proxy and
   * tracing headers), and never the handshake's own; the `upgrade` hook sees them all.
   */
  readonly headers: IncomingHttpHeaders;
  #peer: Peer | undefined;
  #remoteAddress: string | undefined;
  #query: Query | undefined;

  /**
   * `peer` is the address itself, or the socket to read it from on first use: asking the
   * kernel for it (getpeername) costs more than the rest of what this object does.
   */
  constructor(url: string, headers: IncomingHttpHeaders, peer: string | Peer | undefined) {
    this.url = url;
    this.headers = headers;
    if (typeof peer === 'object') this.#peer = peer;
    else this.#remoteAddress = peer;
  }

  /**
   * The client's IP address. Behind a proxy the app trusts (Express `trust proxy`, Koa
   * `app.proxy`, Fastify `trustProxy`) it is the framework's answer from `X-Forwarded-For`;
   * otherwise the socket's peer, read the first time it is asked for. switchyard reads it
   * before the socket closes whenever a close handler or `close` listener exists.
   */
  get remoteAddress(): string | undefined {
    const peer = this.#peer;
    if (peer !== undefined) {
      this.#peer = undefined;
      this.#remoteAddress = peer.remoteAddress;
    }
    return this.#remoteAddress;
  }

  /** The URL's path, without the query string. */
  get path(): string {
    const q = this.url.indexOf('?');
    return q === -1 ? this.url : this.url.slice(0, q);
  }

  /** The parsed query string. */
  get query(): Query {
    return (this.#query ??= parseQuery(this.url));
  }

  /** The `Origin` header, which browsers always send. */
  get origin(): string | undefined {
    return this.headers.origin;
  }

  /** Plain-object form, for logs and `JSON.stringify`. */
  toJSON(): {
    url: string;
    path: string;
    query: Query;
    headers: IncomingHttpHeaders;
    origin: string | undefined;
    remoteAddress: string | undefined;
  } {
    return {
      url: this.url,
      path: this.path,
      query: this.query,
      headers: this.headers,
      origin: this.origin,
      remoteAddress: this.remoteAddress,
    };
  }
}

/** Headers that only served the handshake (RFC 6455 §4.2.1); a connection does not keep them. */
const HANDSHAKE_ONLY: ReadonlySet<string> = new Set([
  'upgrade',
  'connection',
  'sec-websocket-key',
  'sec-websocket-version',
  'sec-websocket-extensions',
]);

/**
 * The request headers a connection keeps: those named by `keep` (all with `true`), never the
 * handshake's own, which are spent once the 101 is out; values longer than `maxLength` are
 * dropped. The `upgrade` hook's request (and its `raw`) still has them all.
 */
export function keptHeaders(
  headers: IncomingHttpHeaders,
  keep: ReadonlySet<string> | true = true,
  maxLength = Infinity,
): IncomingHttpHeaders {
  const kept: IncomingHttpHeaders = {};
  for (const name in headers) {
    if (HANDSHAKE_ONLY.has(name) || (keep !== true && !keep.has(name))) continue;
    const value = headers[name];
    if (maxLength !== Infinity && (Array.isArray(value) ? value.join(', ') : (value ?? '')).length > maxLength)
      continue;
    kept[name] = value;
  }
  return kept;
}

function parseQuery(url: string): Query {
  const query: Query = Object.create(null) as Query;
  const q = url.indexOf('?');
  if (q === -1) return query;
  for (const [key, value] of new URLSearchParams(url.slice(q + 1))) {
    const existing = query[key];
    if (existing === undefined) query[key] = value;
    else if (Array.isArray(existing)) existing.push(value);
    else query[key] = [existing, value];
  }
  return query;
}

/**
 * The handshake request as the `upgrade` hook sees it: the connection's request plus what the
 * framework knows (route params, what middleware left in its state) and the raw IncomingMessage.
 */
export class UpgradeRequest extends RequestInfo {
  /** Route parameters, e.g. `{ id: '42' }` for `/rooms/:id`. */
  readonly params: Record<string, string>;
  /** What earlier middleware left: Express `res.locals`, Koa `ctx.state`, a Fastify request's decorations. */
  readonly state: Record<string, unknown>;
  /** The subprotocols the client offered, in its order. */
  readonly protocols: string[];
  /** The raw request. Available during the handshake only. */
  readonly raw: IncomingMessage;
  /**
   * A bearer token the client sent: as a `base64url.bearer.<token>` subprotocol entry (what
   * browsers can do; it is never echoed), or in an `Authorization: Bearer` header.
   */
  readonly bearerToken: string | undefined;

  /** `remoteAddress` is the framework's answer behind a trusted proxy; without one, the socket's. */
  constructor(
    raw: IncomingMessage,
    url: string,
    params: Record<string, string>,
    state: Record<string, unknown>,
    protocols: string[],
    remoteAddress?: string,
    bearerToken?: string,
  ) {
    super(url, raw.headers, remoteAddress ?? raw.socket);
    this.raw = raw;
    this.params = params;
    this.state = state;
    this.protocols = protocols;
    this.bearerToken = bearerToken ?? bearerFromHeader(raw.headers.authorization);
  }
}

function bearerFromHeader(authorization: string | undefined): string | undefined {
  if (authorization === undefined) return undefined;
  const match = /^Bearer +(\S+) *$/i.exec(authorization);
  return match ? match[1] : undefined;
}

/** What an adapter knows about the request beyond Node's IncomingMessage. */
export interface RequestExtras {
  /** The URL as the client sent it, when the framework rewrote `req.url` (Express mounts). */
  url?: string;
  /** Route parameters. */
  params?: Record<string, string>;
  /** What middleware left: Express `res.locals`, Koa `ctx.state`. */
  state?: Record<string, unknown>;
  /**
   * The client's address as the framework computed it from `X-Forwarded-For` under its own
   * trust setting (Express `trust proxy`, Koa `app.proxy`, Fastify `trustProxy`). Adapters pass
   * it only when the app trusts a proxy; otherwise the socket's address is used, so a client
   * can never choose its address with a header.
   */
  remoteAddress?: string | undefined;
  /**
   * False when the framework reached this endpoint through a route bound to GET (Express
   * `router.get`, @koa/router `router.get`), so the fallback's POSTs to the same URL never
   * reach it. Core warns once (SWITCHYARD_FALLBACK_UNREACHABLE) when such a route opens a session.
   */
  postReachable?: boolean;
}
