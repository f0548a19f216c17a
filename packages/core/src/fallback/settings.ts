/**
 * The `fallback` option: what an app may tune of the SSE + POST transport, and the settings
 * with defaults applied that the sessions and routes read.
 */
import type { UpgradeRequest } from '../handshake/request.js';

/** Fallback settings (the `fallback` option); `false` turns the SSE transport off. */
export interface FallbackOptions {
  /** Close a session that has had no stream and no POST for this long (ms). Default 30 000. */
  sessionTimeout?: number;
  /** Send an SSE comment this often (ms) so that proxies keep idle streams. Default 15 000. */
  heartbeat?: number;
  /** The `retry:` the browser waits before reconnecting a dropped stream (ms). Default 1000. */
  retry?: number;
  /** Events kept per session for replay after a stream reconnect. Default 1000. */
  replay?: number;
  /**
   * Bytes of events kept per session for replay, until the client acknowledges them. Default
   * 2 MiB. A resume that needs an event no longer kept gets 404 and the client starts afresh.
   */
  replayBytes?: number;
  /**
   * Names the client that may use a session: called when the session is created and for every
   * POST and resume; a different answer gets 403. Default: the request's `Authorization` header
   * and URL (the app's query) must be the same as the creating request's.
   */
  owner?: (req: UpgradeRequest) => string | Promise<string>;
}

/** Fallback settings with defaults applied; `owner` stays optional. */
export type ResolvedFallbackOptions = Required<Omit<FallbackOptions, 'owner'>> & Pick<FallbackOptions, 'owner'>;
