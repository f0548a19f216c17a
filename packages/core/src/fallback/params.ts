/**
 * How a request addresses the fallback: the `__sy*` query parameters that pick the mode, the
 * session and the offered subprotocols, and the session id header. The app never sees them.
 */
import { FallbackMode as WireMode, FallbackParam, SESSION_HEADER as PROTOCOL_SESSION_HEADER } from '../protocol.js';

/** What a request asks of the fallback protocol. */
export type FallbackMode = 'live' | 'sse' | 'post';

/**
 * The session id header as Node hands it over (lower-cased). `__sy_session` in the query is
 * still read, for EventSource, which cannot set headers.
 */
export const SESSION_HEADER = PROTOCOL_SESSION_HEADER.toLowerCase();

/** The `__sy` query parameters of a request URL, and the URL without them. */
export interface FallbackParams {
  mode: FallbackMode | undefined;
  session: string | undefined;
  protocols: string | undefined;
  /** The URL the app sees: without any `__sy*` parameter. */
  url: string;
}

/** Splits the fallback parameters off a URL. Cheap for the common URL that has none. */
export function fallbackParams(url: string): FallbackParams {
  const q = url.indexOf('?');
  if (q === -1 || !url.includes(FallbackParam.MODE, q))
    return { mode: undefined, session: undefined, protocols: undefined, url };
  const params = new URLSearchParams(url.slice(q + 1));
  const sy = params.get(FallbackParam.MODE);
  const result: FallbackParams = {
    mode: sy === WireMode.LIVE ? 'live' : sy === WireMode.SSE || sy === WireMode.POST ? sy : undefined,
    session: params.get(FallbackParam.SESSION) ?? undefined,
    protocols: params.get(FallbackParam.PROTOCOLS) ?? undefined,
    url: '',
  };
  for (const key of [...params.keys()]) if (key.startsWith(FallbackParam.MODE)) params.delete(key);
  const rest = params.toString();
  result.url = rest ? `${url.slice(0, q)}?${rest}` : url.slice(0, q);
  return result;
}
