import { ErrorCode, codedTypeError } from './errors.js';

/** The two addresses of one endpoint: the WebSocket's and the one for SSE and POSTs. */
export interface EndpointUrls {
  websocket: URL;
  http: URL;
}

const SCHEMES: Record<string, [websocket: string, http: string]> = {
  'ws:': ['ws:', 'http:'],
  'http:': ['ws:', 'http:'],
  'wss:': ['wss:', 'https:'],
  'https:': ['wss:', 'https:'],
};

/**
 * Derives both addresses from what the app passed: `ws(s)://`, `http(s)://`, or a path resolved
 * against `base` (the page's address in a browser, so an https page gets wss).
 */
export function endpointUrls(url: string | URL, base?: string): EndpointUrls {
  let parsed: URL;
  try {
    parsed = new URL(url, base);
  } catch {
    throw codedTypeError(
      `connect() needs an absolute URL, or a page to resolve a relative one against: ${String(url)}`,
      ErrorCode.INVALID_URL,
    );
  }
  const schemes = SCHEMES[parsed.protocol];
  if (!schemes)
    throw codedTypeError(
      `connect() takes ws:, wss:, http: or https: URLs, not ${parsed.protocol}`,
      ErrorCode.INVALID_URL,
    );
  parsed.hash = '';
  const websocket = new URL(parsed);
  websocket.protocol = schemes[0];
  const http = new URL(parsed);
  http.protocol = schemes[1];
  return { websocket, http };
}

/**
 * `url` with `params` appended to its query. Appended as text rather than through
 * `searchParams`, which would re-encode the app's own parameters (a `%20` becomes `+`).
 */
export function withParams(url: URL, params: Record<string, string | undefined>): string {
  let query = '';
  for (const [name, value] of Object.entries(params)) {
    if (value !== undefined) query += `&${name}=${encodeURIComponent(value)}`;
  }
  const href = url.href;
  if (url.search) return href + query;
  // `?` with nothing after it: `search` is empty but the href keeps the `?`.
  return `${href.endsWith('?') ? href : `${href}?`}${query.slice(1)}`;
}

/**
 * Where the transport choice is remembered: the endpoint without its query, which may hold
 * credentials that have no business in sessionStorage.
 */
export function choiceKey(url: URL): string {
  return `switchyard:transport:${url.origin}${url.pathname}`;
}
