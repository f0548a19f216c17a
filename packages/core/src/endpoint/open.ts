/**
 * The open path of an endpoint: what a connection gets wired to once its handshake (or its
 * fallback session) is accepted. It joins the endpoint's set, is counted and announced on the
 * diagnostics channels, keeps its place under the connection caps, gets its rate buckets,
 * idle mark and lifetime, starts the sweeps, and runs `open` (or the faye-style listener);
 * messages that arrive meanwhile wait for it. On close, its place is given back; at shutdown,
 * closeAll ends them all.
 */
import type { IncomingMessage } from 'node:http';
import { Connection, policyOf } from '../connection/connection.js';
import type { ConnectionHost } from '../connection/connection.js';
import type { EndpointStats } from './stats.js';
import type { LifetimePart, OpenPart, RatePart } from '../connection/policy.js';
import { channels } from '../diagnostics.js';
import type { Admitted, Admissions } from './admission.js';
import type { Sweeps } from './heartbeat.js';
import type { HookDispatch } from './hooks.js';
import { isThenable } from './hooks-errors.js';
import { TokenBucket } from '../limits.js';
import type { ConnectionListener, Hooks, ResolvedOptions } from './options-types.js';
import type { RequestInfo } from '../handshake/request.js';
import type { Transport as TransportSeam } from '../connection/transport.js';

/** The endpoint as its open path sees it: the host of its connections, with their set. */
export interface OpeningEndpoint<Context> extends ConnectionHost {
  readonly connections: Set<Connection<Context>>;
  readonly counters: EndpointStats | undefined;
  readonly options: ResolvedOptions;
}

/** What the open path needs of its endpoint beyond the public Endpoint. */
export interface OpeningsHost<Context> {
  endpoint: OpeningEndpoint<Context>;
  hooks: Hooks<Context>;
  listener: ConnectionListener | undefined;
  dispatch: HookDispatch<Context>;
  admission: Admissions<Context>;
  sweeps: Sweeps;
}

/** Opens an endpoint's connections and gives back their places as they close. */
export class Openings<Context> {
  readonly #host: OpeningsHost<Context>;
  /** The address each connection's place under the caps was reserved for. */
  readonly #places = new Map<Connection<Context>, string>();

  constructor(host: OpeningsHost<Context>) {
    this.#host = host;
  }

  /** Wires a newly accepted connection and runs `open`. */
  open(ws: TransportSeam, info: RequestInfo, admitted: Admitted<Context>, req: IncomingMessage): void {
    const { endpoint, hooks, dispatch } = this.#host;
    const connection = new Connection<Context>(ws, endpoint, info, admitted.context as Context);
    // The socket is gone by the time close handlers run; read the address while it is here.
    if (hooks.close) void info.remoteAddress;
    endpoint.connections.add(connection);
    const transport = connection.transport;
    endpoint.counters?.opened(transport);
    if (channels.handshakeEnd.hasSubscribers) {
      const status = transport === 'sse' ? 200 : 101;
      // A HandshakeEndMessage (diagnostics-messages.ts).
      const message = {
        request: req,
        transport,
        path: info.path,
        status,
        accepted: true,
        reason: '',
        connection,
      };
      channels.handshakeEnd.publish(message);
    }
    if (channels.open.hasSubscribers) {
      // An OpenMessage.
      const message = { endpoint, connection, request: req, transport };
      channels.open.publish(message);
    }
    if (transport === 'sse' && channels.fallback.hasSubscribers) {
      // A FallbackMessage.
      const message = { connection, request: req, transport };
      channels.fallback.publish(message);
    }
    if (admitted.place !== undefined) this.#places.set(connection, admitted.place);
    this.#startLimits(connection, admitted.expiresAt);
    this.#host.sweeps.startHeartbeat();
    const open = this.#host.listener ?? hooks.open;
    if (!open) return;
    const opening: OpenPart = policyOf(connection);
    opening.pending = [];
    let result: unknown;
    try {
      result = open(connection as Connection<any, any, any>, info);
    } catch (error) {
      dispatch.fail(connection, error);
    }
    if (isThenable(result)) {
      result.then(
        () => dispatch.flush(connection),
        (error: unknown) => {
          dispatch.fail(connection, error);
          dispatch.flush(connection);
        },
      );
    } else {
      dispatch.flush(connection);
    }
  }

  /** A connection closed: its place under the caps is free again. */
  closed(connection: Connection<Context>): void {
    // Without caps no connection holds a place: no lookup per close.
    if (this.#places.size === 0) return;
    const place = this.#places.get(connection);
    if (place !== undefined) {
      this.#places.delete(connection);
      this.#host.admission.limits.release(place);
    }
  }

  /**
   * Per-connection limits: the message buckets of `rateLimit`, the activity mark of
   * `idleTimeout`, the end of its lifetime, and the sweep that enforces the last two.
   */
  #startLimits(connection: Connection<Context>, expiresAt: number | undefined): void {
    const { messageRate, byteRate, idleTimeout } = this.#host.endpoint.options;
    // The default: no limit of these, and not even a clock read.
    if (!messageRate && !byteRate && idleTimeout === Infinity && expiresAt === undefined) return;
    const now = performance.now();
    const policy = policyOf(connection);
    const rates: RatePart = policy;
    const life: LifetimePart = policy;
    if (messageRate) rates.messages = new TokenBucket(messageRate, now);
    if (byteRate) rates.bytes = new TokenBucket(byteRate, now);
    if (expiresAt !== undefined) life.expiresAt = expiresAt;
    if (idleTimeout !== Infinity) life.lastActive = Math.floor(now);
    if (idleTimeout !== Infinity || expiresAt !== undefined) this.#host.sweeps.startLifetimes();
  }
}

/**
 * Closes every connection with `code` and `reason`, terminating those still open after
 * `timeout` ms; resolves once their close handlers ran, or undefined when none was open.
 */
export function closeAll(
  connections: Set<Connection<any>>,
  code: number,
  reason: string,
  timeout: number,
): Promise<void> | undefined {
  const waits: Promise<void>[] = [];
  for (const connection of connections) {
    waits.push(
      new Promise<void>((resolve) => {
        const opening: OpenPart = policyOf(connection);
        (opening.closeWaiters ??= []).push(resolve);
      }),
    );
    connection.close(code, reason);
  }
  if (waits.length === 0) return undefined;
  const timer = setTimeout(() => {
    for (const connection of connections) connection.terminate();
  }, timeout);
  return Promise.all(waits).then(() => clearTimeout(timer));
}
