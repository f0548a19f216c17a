/** What every conformance topic gets: the adapter, servers and clients that are closed after each test. */
import { afterEach, vi } from 'vitest';
import type WebSocket from 'ws';
import type { Harness, Mount, ServeOptions, Started } from '../harness.js';
import { start } from '../harness.js';
import type { RawClient } from '../helpers.js';
import { requireAssertions } from '../helpers.js';

export { echo } from '../helpers.js';

export interface Conformance {
  harness: Harness;
  /** Starts a server for `mounts`; it is closed after the test. */
  serve(mounts: Mount[], options?: ServeOptions): Promise<Started>;
  /** Keeps a client to close after the test. */
  track<T extends WebSocket | RawClient>(client: T): T;
}

/** Registers the after-each cleanup in the calling describe and returns the topics' context. */
export function useConformance(harness: Harness): Conformance {
  const running: Started[] = [];
  const clients: Array<{ close(): void } | { terminate(): void } | { destroy(): void }> = [];
  const serve = async (mounts: Mount[], options?: ServeOptions): Promise<Started> => {
    const started = await start(harness, mounts, options);
    running.push(started);
    return started;
  };
  const track = <T extends WebSocket | RawClient>(client: T): T => {
    clients.push(client);
    return client;
  };
  requireAssertions();
  afterEach(async () => {
    for (const client of clients.splice(0)) {
      if ('terminate' in client) client.terminate();
      else if ('destroy' in client) client.destroy();
    }
    await Promise.all(running.splice(0).map((s) => s.close()));
    vi.restoreAllMocks();
  });
  return { harness, serve, track };
}
