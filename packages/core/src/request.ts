import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';

/** Query-string values: a repeated key keeps every value, in order. */
export type Query = Record<string, string | string[]>;

/**
 * What a connection remembers of its handshake request. It copies only what handlers need, so
 * that no IncomingMessage (and the socket, parser and buffers it holds) stays alive per
 * connection.
 */
export class RequestInfo {
  /** The full request URL as the client sent it, e.g. `/chat?room=a`. */
  readonly url: string;
  /** The request headers, lower-cased as Node delivers them. */
  readonly headers: IncomingHttpHeaders;
  /** The peer's IP address, as seen by this server. */
  readonly remoteAddress: string | undefined;
  #query: Query | undefined;

  constructor(url: string, headers: IncomingHttpHeaders, remoteAddress: string | undefined) {
    this.url = url;
    this.headers = headers;
    this.remoteAddress = remoteAddress;
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
  toJSON(): { url: string; path: string; query: Query; headers: IncomingHttpHeaders; origin: string | undefined; remoteAddress: string | undefined } {
    return { url: this.url, path: this.path, query: this.query, headers: this.headers, origin: this.origin, remoteAddress: this.remoteAddress };
  }
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

  constructor(raw: IncomingMessage, url: string, params: Record<string, string>, state: Record<string, unknown>, protocols: string[]) {
    super(url, raw.headers, raw.socket.remoteAddress);
    this.raw = raw;
    this.params = params;
    this.state = state;
    this.protocols = protocols;
  }
}
