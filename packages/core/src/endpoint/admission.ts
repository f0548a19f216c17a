/**
 * Admission: the checks every new connection passes before its 101 or its SSE stream, whatever
 * its transport. Shutdown, the bearer-token subprotocol, origins, subprotocol selection, the
 * connection caps and handshake rate, then the `upgrade` hook. Each check answers with a
 * HandshakeRejection (an HTTP status) or lets the next one run; what passes opens with its
 * subprotocol, context, place under the caps and end of life.
 */
import type { IncomingMessage, Server } from 'node:http';
import { channels, publishLimit } from '../diagnostics.js';
import { HandshakeRejection } from '../errors.js';
import type { RequestExtras } from '../handshake/request.js';
import { AdmissionLimits, addressKey } from '../limits.js';
import { isThenable } from './hooks-errors.js';
import type { Hooks, ResolvedOptions, UpgradeResult } from './options-types.js';
import { UpgradeRequest } from '../handshake/request.js';
import { isShuttingDown } from './shutdown.js';
import { extractBearerToken, selectProtocol } from '../handshake/subprotocol.js';

/**
 * What the checks decide for a new connection: a rejection, or what to open it with: its
 * subprotocol and context, the address its place under the connection caps is reserved for,
 * and when it must end (performance.now() time).
 */
export type Admission<Context> = HandshakeRejection | Admitted<Context>;
/** What an admitted connection opens with. */
export interface Admitted<Context> {
  protocol: string | undefined;
  context: Context | undefined;
  place?: string | undefined;
  expiresAt?: number | undefined;
}

/** What admission needs of its endpoint. */
export interface AdmissionHost {
  /** True once `endpoint.close()` ran: new connections get 503. */
  readonly closing: boolean;
  /** Reports an `upgrade` hook that threw something other than a rejection. */
  report(error: unknown): void;
}

/** The admission checks of one endpoint. */
export class Admissions<Context> {
  /** The connection caps and handshake rate, and the places reserved under them. */
  readonly limits: AdmissionLimits;
  readonly options: ResolvedOptions;
  readonly #upgradeHook: Hooks<Context>['upgrade'];
  readonly #host: AdmissionHost;
  #warnedNoProtocol = false;

  constructor(options: ResolvedOptions, upgradeHook: Hooks<Context>['upgrade'], host: AdmissionHost) {
    this.options = options;
    this.#upgradeHook = upgradeHook;
    this.#host = host;
    this.limits = new AdmissionLimits(options.maxConnections, options.maxConnectionsPerAddress, options.handshakeRate);
  }

  /**
   * The checks every new connection passes, whatever its transport: shutdown, origin,
   * subprotocol, then the `upgrade` hook. Returns the rejection to send, or what to open with.
   */
  admit(
    req: IncomingMessage,
    url: string,
    offered: string[],
    extras: RequestExtras,
    server: Server | undefined,
  ): Admission<Context> | Promise<Admission<Context>> {
    if (this.#host.closing || isShuttingDown(server)) return shuttingDown();

    let token: string | undefined;
    if (offered.length > 0) {
      const bearer = extractBearerToken(offered);
      if (bearer.token !== undefined && bearer.protocols.length === 0) {
        // Browsers fail a 101 that names no subprotocol when they offered one.
        return new HandshakeRejection(400, 'A bearer token subprotocol must be offered next to a real subprotocol');
      }
      offered = bearer.protocols;
      token = bearer.token;
    }
    // Built only for what reads it (an origins or protocols function, the per-address caps, the
    // `upgrade` hook): an endpoint without them pays no object and no header parse for it.
    let upgradeRequest: UpgradeRequest | undefined;
    const { origins, protocols } = this.options;
    const origin = req.headers.origin;
    if (origins !== undefined && origin !== undefined) {
      const allowed =
        typeof origins === 'function'
          ? origins(origin, (upgradeRequest ??= this.#request(req, url, offered, extras, token)))
          : origins.includes(origin);
      if (!allowed) return new HandshakeRejection(403, `Origin ${origin} is not allowed`);
    }

    let protocol: string | undefined;
    if (offered.length > 0) {
      if (protocols === undefined) {
        this.#warnNoProtocol(url, offered);
      } else {
        protocol =
          typeof protocols === 'function'
            ? selectProtocol(offered, protocols, (upgradeRequest ??= this.#request(req, url, offered, extras, token)))
            : selectProtocol(offered, protocols, undefined);
        if (protocol === undefined) {
          const speaks = typeof protocols === 'function' ? 'none of them' : protocols.join(', ') || 'none';
          return new HandshakeRejection(
            400,
            `Unsupported subprotocol: the client offered ${offered.join(', ')}; this endpoint speaks ${speaks}`,
          );
        }
      }
    }

    let place: string | undefined;
    if (this.limits.active) {
      place = this.limits.perAddress
        ? addressKey((upgradeRequest ??= this.#request(req, url, offered, extras, token)).remoteAddress)
        : '';
      // Only a trusted proxy's forwarding header can make it anything but an IP: a broken proxy
      // chain, or a client forging the header through a proxy that appends to it.
      if (place === undefined) return new HandshakeRejection(400, 'The client address is not an IP address');
      const refusal = this.limits.reserve(place, performance.now());
      if (refusal && channels.limit.hasSubscribers)
        publishLimit(refusal.limit, 'refused', undefined, place, refusal.status, undefined);
      if (refusal)
        return new HandshakeRejection(refusal.status, refusal.message, { 'Retry-After': String(refusal.retryAfter) });
    }

    const hook = this.#upgradeHook;
    if (!hook) return { protocol, context: undefined, place, expiresAt: this.#expiry(undefined) };
    upgradeRequest ??= this.#request(req, url, offered, extras, token);
    // A hook that answers at once (an adapter's default context, a check with nothing to await)
    // is settled at once: the 101 then waits for no promise, as without a hook.
    let result: UpgradeResult<Context> | Promise<UpgradeResult<Context>>;
    try {
      result = hook(upgradeRequest);
    } catch (error) {
      return this.#settleFailed(error, place);
    }
    if (!isThenable(result)) return this.#settle(result, protocol, server, place);
    const left = place === undefined ? undefined : this.#releaseOnLeave(req, place);
    // The client's leaving gave the place back already: nothing to open with, nothing to release.
    const kept = (): string | undefined => (left === undefined || left.settle() ? place : undefined);
    return Promise.resolve(result).then(
      (settled) => this.#settle(settled, protocol, server, kept()),
      (error: unknown) => this.#settleFailed(error, kept()),
    );
  }

  /**
   * While the `upgrade` hook runs, a client that leaves (its socket closes: a reset, an error)
   * gives its place under the caps back at once, as it gives back its place under
   * `maxPendingHandshakes`: a hook that hangs (a database that does not answer) must not hold the
   * caps' places of clients long gone. `settle()`, once the hook settled: true if the place is
   * still held, and stops watching.
   */
  #releaseOnLeave(req: IncomingMessage, place: string): { settle(): boolean } {
    const socket = req.socket as IncomingMessage['socket'] | null;
    let held = true;
    const onClose = (): void => {
      if (!held) return;
      held = false;
      this.release(place);
    };
    if (socket?.destroyed) onClose();
    else if (socket) socket.once('close', onClose);
    return {
      settle: () => {
        socket?.removeListener('close', onClose);
        return held;
      },
    };
  }

  /** The request as the `upgrade` hook and the option functions see it. */
  #request(
    req: IncomingMessage,
    url: string,
    offered: string[],
    extras: RequestExtras,
    token: string | undefined,
  ): UpgradeRequest {
    return new UpgradeRequest(req, url, extras.params ?? {}, extras.state ?? {}, offered, extras.remoteAddress, token);
  }

  /** When a connection opened now must end: `maxLifetime`, or sooner the hook's `expiresAt`. */
  #expiry(expiresAt: Date | number | undefined): number | undefined {
    const { maxLifetime } = this.options;
    let at = maxLifetime === Infinity ? undefined : performance.now() + maxLifetime;
    if (expiresAt !== undefined) {
      const fromHook = performance.now() + (Number(expiresAt) - Date.now());
      at = at === undefined ? fromHook : Math.min(at, fromHook);
    }
    return at;
  }

  /** Gives back a place under the caps that no connection will use. */
  release(place: string | undefined): void {
    if (place !== undefined) this.limits.release(place);
  }

  /** What the `upgrade` hook's result admits: a rejection (its place given back), or the connection. */
  #settle(
    result: UpgradeResult<Context>,
    protocol: string | undefined,
    server: Server | undefined,
    place: string | undefined,
  ): Admission<Context> {
    let admission: Admission<Context>;
    if (result instanceof HandshakeRejection) admission = result;
    else if (this.#host.closing || isShuttingDown(server)) admission = shuttingDown();
    else
      return {
        protocol,
        context: result ? result.context : undefined,
        place,
        expiresAt: this.#expiry(result ? result.expiresAt : undefined),
      };
    this.release(place);
    return admission;
  }

  /** The `upgrade` hook threw or rejected: a rejection it threw answers, anything else is a 500. */
  #settleFailed(error: unknown, place: string | undefined): HandshakeRejection {
    this.release(place);
    if (error instanceof HandshakeRejection) return error;
    this.#host.report(error);
    return new HandshakeRejection(500, 'Internal Server Error');
  }

  #warnNoProtocol(url: string, offered: string[]): void {
    if (this.#warnedNoProtocol) return;
    this.#warnedNoProtocol = true;
    // The path only: a query string may carry a token.
    const path = url.split('?', 1)[0];
    process.emitWarning(
      `A client of ${path} offered subprotocols (${offered.join(', ')}) but this endpoint declares no ` +
        '"protocols", so the 101 names none. Browsers fail such a connection ("Sent non-empty ' +
        "'Sec-WebSocket-Protocol' header but no response was received\"). Add protocols: [...] to the endpoint.",
      { code: 'SWITCHYARD_NO_SUBPROTOCOL' },
    );
  }
}

/** The answer while the server or the endpoint shuts down. */
export function shuttingDown(): HandshakeRejection {
  return new HandshakeRejection(503, 'Server is shutting down', { 'Retry-After': '5' });
}
