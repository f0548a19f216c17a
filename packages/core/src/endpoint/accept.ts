/**
 * The WebSocket side of an endpoint's handshake, after the socket is taken: the checks of
 * handshake.ts, admission (caps, rates, the `upgrade` hook), then the 101 through `ws` with the
 * chosen subprotocol, or an HTTP refusal. It owns the endpoint's `ws` server; an accepted
 * socket goes on to the open path (open.ts), after a resuming client's token.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import type { Admission, Admissions, Admitted } from './admission.js';
import { HandshakeRejection } from '../errors.js';
import type { FallbackParams } from '../fallback/params.js';
import { LIVENESS_FRAME } from '../protocol.js';
import { checkExtensions, checkHandshake, rejectHandshake } from '../handshake/handshake.js';
import type { serverOf } from '../handshake/hijack.js';
import { releaseRequestListeners, releaseSocket } from '../handshake/takeover.js';
import { awaitResume, refuseResume } from '../recovery/index.js';
import type { RecoveryHost } from '../recovery/index.js';
import type { ResolvedOptions } from './options-types.js';
import { RequestInfo, keptHeaders } from '../handshake/request.js';
import type { RequestExtras } from '../handshake/request.js';
import type { Transport as TransportSeam } from '../connection/transport.js';
import { ServerWebSocket } from '../internals/ws.js';

/** What the `rejected` hook hears of a handshake that ended without a 101. */
export type Refusal = Pick<HandshakeRejection, 'status' | 'message'>;

/** A handshake whose client left before any answer (the stats count it under status 0 too). */
const CLIENT_LEFT: Refusal = { status: 0, message: 'The client left before the handshake completed' };

/** The endpoint as its handshake sees it: its settings, and its hub for a resume (recovery/). */
export interface AcceptingEndpoint extends RecoveryHost {
  readonly options: ResolvedOptions;
}

/** What the handshake needs of its endpoint beyond the public Endpoint. */
export interface UpgradesHost<Context> {
  endpoint: AcceptingEndpoint;
  admission: Admissions<Context>;
  /**
   * Tells the `rejected` hook and the diagnostics channel about a refusal, or (status 0) a
   * client that left first.
   */
  rejected(req: IncomingMessage, rejection: Refusal, url: string, address?: string): void;
  /** The open path (open.ts). */
  open(ws: TransportSeam, info: RequestInfo, admitted: Admitted<Context>, req: IncomingMessage): void;
}

/** Completes or refuses the WebSocket handshakes of one endpoint. */
export class Upgrades<Context> {
  readonly #host: UpgradesHost<Context>;
  readonly #wss: WebSocketServer;
  /** The subprotocol of the handshake being completed right now (see handleProtocols). */
  #chosenProtocol: string | undefined;
  /** ws's permessage-deflate settings; undefined without compression. */
  readonly #deflate: object | undefined;
  /** What ws refused in the handshake being completed right now (see 'wsClientError'). */
  #wsRefusal: Error | undefined;

  constructor(host: UpgradesHost<Context>) {
    this.#host = host;
    const { compression, maxPayload, closeTimeout } = host.endpoint.options;
    this.#deflate = compression ? { threshold: 1024, concurrencyLimit: 10, ...compression } : undefined;
    this.#wss = new WebSocketServer({
      noServer: true,
      clientTracking: false,
      // ws checks maxPayload on the wire and after inflating alike. Incompressible data grows
      // under deflate (by ~4% from python-websockets, whose memLevel 5 means small stored
      // blocks), so a message within the limit could be refused on the wire: ws gets zlib's
      // conservative deflateBound, and Connection checks the exact limit after inflating.
      maxPayload: compression ? maxPayload + (maxPayload >> 3) + (maxPayload >> 6) + 64 : maxPayload,
      // Off: offers are declined, so no frame ever carries an RSV bit. On: ws's threshold and
      // zlib concurrency limit keep memory bounded (a deflate context is ~300 KB per socket).
      perMessageDeflate: this.#deflate ?? false,
      // After the server's close frame, a peer that never answers it is cut this many ms later,
      // and its place under the caps goes with it (ws's own default is 30 s).
      // @types/ws lacks it (ws >= 8.19 has it).
      ...({ closeTimeout } as object),
      // ws asks during handleUpgrade, synchronously (there is no verifyClient), for the
      // protocol #accept chose; a property on the request would cost microseconds to add.
      handleProtocols: () => this.#chosenProtocol ?? false,
      WebSocket: ServerWebSocket,
    });
    // ws emits this, instead of answering 400 or 405 itself, for a request it refuses to
    // upgrade. checkHandshake and checkExtensions refuse all of those first; should ws ever
    // disagree, #accept still answers through the one rejection path and gives the place back.
    this.#wss.on('wsClientError', (error: Error) => {
      this.#wsRefusal = error;
    });
  }

  /** Checks, admits and accepts (or refuses) a WebSocket handshake on a taken socket. */
  upgrade(
    req: IncomingMessage,
    socket: Duplex,
    head: Buffer,
    fallback: FallbackParams,
    extras: RequestExtras,
    server: ReturnType<typeof serverOf>,
  ): number | Promise<number> {
    const offered = checkHandshake(req);
    if (offered instanceof HandshakeRejection)
      return this.reject(req, socket, offered, fallback.url, extras.remoteAddress);
    // A resume the store cannot serve now is refused before anything else (recovery/).
    const unavailable = refuseResume(this.#host.endpoint, req, 'websocket');
    if (unavailable) return this.reject(req, socket, unavailable, fallback.url, extras.remoteAddress);
    const extensions = checkExtensions(req, this.#deflate, this.#host.endpoint.options.maxPayload);
    if (extensions) return this.reject(req, socket, extensions, fallback.url, extras.remoteAddress);
    const admitted = this.#host.admission.admit(req, fallback.url, offered, extras, server);
    if (admitted instanceof Promise)
      return admitted.then((settled) => this.#accept(req, socket, head, fallback, extras, settled));
    return this.#accept(req, socket, head, fallback, extras, admitted);
  }

  #accept(
    req: IncomingMessage,
    socket: Duplex,
    head: Buffer,
    fallback: FallbackParams,
    extras: RequestExtras,
    admitted: Admission<Context>,
  ): number {
    if (admitted instanceof HandshakeRejection)
      return this.reject(req, socket, admitted, fallback.url, extras.remoteAddress);
    if (socket.destroyed || !socket.readable || !socket.writable) {
      this.#host.admission.release(admitted.place);
      return this.#left(req, socket, fallback.url, extras.remoteAddress);
    }
    const { keepHeaders, maxKeptHeaderLength } = this.#host.endpoint.options;
    const info = new RequestInfo(
      fallback.url,
      keptHeaders(req.headers, keepHeaders, maxKeptHeaderLength),
      extras.remoteAddress ?? req.socket,
    );
    releaseRequestListeners(req, socket);
    const live = fallback.mode === 'live';
    this.#chosenProtocol = admitted.protocol;
    this.#wsRefusal = undefined;
    let upgraded = false;
    try {
      this.#wss.handleUpgrade(req, socket, head, (ws) => {
        upgraded = true;
        // ws has its own error listener on the socket now.
        releaseSocket(socket);
        // Only switchyard's client asks for this frame; it proves frames really flow, which a
        // 101 through a frame-dropping proxy does not.
        if (live) ws.send(LIVENESS_FRAME);
        // A client resuming a session (recovery/) speaks first; `open` waits for its token.
        const resuming = awaitResume(this.#host.endpoint, ws, req, info.path);
        if (!resuming) return this.#host.open(ws, info, admitted, req);
        void resuming.then((resumed) => {
          if (!resumed) return this.#host.admission.release(admitted.place);
          this.#host.open(ws, info, admitted, req);
          resumed();
        });
      });
    } catch (error) {
      // ws throws only for a socket it upgraded already; that connection keeps the socket.
      if (!upgraded) this.#host.admission.release(admitted.place);
      throw error;
    } finally {
      this.#chosenProtocol = undefined;
    }
    if (upgraded) return 101;
    // Without verifyClient, ws calls back before handleUpgrade returns, or never: it refused.
    this.#host.admission.release(admitted.place);
    // Set by the 'wsClientError' listener while handleUpgrade ran, which TypeScript can't see.
    const refusal = this.#wsRefusal as Error | undefined;
    this.#wsRefusal = undefined;
    if (refusal) {
      const status = req.method === 'GET' ? 400 : 405;
      return this.reject(
        req,
        socket,
        new HandshakeRejection(status, refusal.message),
        fallback.url,
        extras.remoteAddress,
      );
    }
    // ws destroyed a socket the client had half-closed, or answered by itself (a 503 once its
    // server is closed, which switchyard never does).
    return this.#left(req, socket, fallback.url, extras.remoteAddress);
  }

  /**
   * A handshake whose client left (or whose socket ws closed) before an answer: the socket is
   * destroyed, and the `rejected` hook hears of it with status 0, as the stats count it.
   */
  #left(req: IncomingMessage, socket: Duplex, url: string, address: string | undefined): number {
    socket.destroy();
    this.#host.rejected(req, CLIENT_LEFT, url, address);
    return 0;
  }

  /** Answers a refused handshake with HTTP and reports it. */
  reject(req: IncomingMessage, socket: Duplex, rejection: HandshakeRejection, url: string, address?: string): number {
    rejectHandshake(socket, rejection.status, rejection.message, rejection.headers);
    this.#host.rejected(req, rejection, url, address);
    return rejection.status;
  }
}
