/**
 * The fallback's HTTP side (docs/fallback-protocol.md): the SSE streams that open and resume
 * sessions, and the POSTs that carry the client's frames, routed to the session that owns
 * them, on this node or, through the hub, on another. Admission, opening connections and error
 * reports stay the endpoint's: they reach it through {@link FallbackHost}.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Server } from 'node:http';
import { HandshakeRejection } from '../errors.js';
import { Inbox } from '../hub/hub.js';
import type { Hub } from '../hub/hub.js';
import type { Hooks, ResolvedOptions } from '../endpoint/options-types.js';
import { RequestInfo, keptHeaders } from '../handshake/request.js';
import { parseProtocols } from '../handshake/subprotocol.js';
import type { Transport } from '../connection/transport.js';
import type { Admission, Admitted } from '../endpoint/admission.js';
import type { RequestExtras } from '../handshake/request.js';
import { whenReading } from '../connection/connection.js';
import { SseSocket } from './session.js';
import type { ResolvedFallbackOptions } from './settings.js';
import { SESSION_HEADER } from './params.js';
import type { FallbackParams } from './params.js';
import { answer, respond, respondEmpty } from './answer.js';
import { identify, notTheOwner, requestOwner, sameOwner } from './owner.js';
import { parsePostBody, readBody } from './post.js';
import type { PostBody } from './post.js';
import { refuseResume, resumeUnavailable, sseResume } from '../recovery/index.js';

/** What the fallback needs of its endpoint. */
export interface FallbackHost<Context> {
  readonly options: ResolvedOptions;
  readonly hub: Hub;
  readonly upgradeHook: Hooks<Context>['upgrade'];
  /** The checks of a new connection: shutdown, origin, subprotocol, caps, the `upgrade` hook. */
  admit(
    req: IncomingMessage,
    url: string,
    offered: string[],
    extras: RequestExtras,
    server: Server | undefined,
  ): Admission<Context> | Promise<Admission<Context>>;
  /** Gives back a place under the connection caps. */
  release(place: string | undefined): void;
  /** Tells the `rejected` hook and the diagnostics channel about a refusal. */
  rejected(req: IncomingMessage, rejection: HandshakeRejection, url: string, address?: string): void;
  /** Opens the connection of a new session. */
  open(transport: Transport, info: RequestInfo, admitted: Admitted<Context>, req: IncomingMessage): void;
  /** Reports an error of the app's (an `upgrade` hook or `fallback.owner` that threw). */
  report(error: unknown): void;
  /** Warns once that POSTs can't reach an endpoint mounted on a GET route. */
  warnPostUnreachable(url: string): void;
}

/** The hub topic on which other nodes forward POSTs for a session. */
function sessionTopic(id: string): string {
  return `__sy:session:${id}`;
}

/** An endpoint's fallback sessions and the HTTP requests that drive them. */
export class FallbackRoutes<Context> {
  readonly #host: FallbackHost<Context>;
  readonly #sessions = new Map<string, SseSocket>();
  readonly #inboxes = new Map<SseSocket, Inbox>();

  constructor(host: FallbackHost<Context>) {
    this.#host = host;
  }

  /** The SSE + POST transport (docs/fallback-protocol.md). */
  async handle(
    req: IncomingMessage,
    res: ServerResponse,
    fallback: FallbackParams,
    extras: RequestExtras,
    server: Server | undefined,
  ): Promise<number> {
    const settings = this.#host.options.fallback;
    if (!settings) return respond(res, answer(404, 'This endpoint has no SSE fallback'));
    // The client's fetch-based requests carry the id in a header; EventSource can only put it
    // in the URL.
    const header = req.headers[SESSION_HEADER];
    const id = typeof header === 'string' && header !== '' ? header : fallback.session;
    if (fallback.mode === 'post') {
      if (req.method !== 'POST') return respond(res, answer(405, 'Fallback frames must be POSTed', { Allow: 'POST' }));
      return this.#post(req, res, id, fallback, extras, settings);
    }
    if (req.method !== 'GET') return respond(res, answer(405, 'SSE streams must use GET', { Allow: 'GET' }));
    const lastEventId = Number(req.headers['last-event-id']);
    const resume = Number.isInteger(lastEventId) ? lastEventId : undefined;
    if (id !== undefined) {
      const client = await identify(this.#host, req, fallback.url, extras, settings);
      if (client instanceof HandshakeRejection) return respond(res, client);
      const session = this.#sessions.get(id);
      if (!session) return respond(res, answer(404, 'Unknown or expired session'));
      // Checked before anything touches the session, so that another client's resume neither
      // replays the owner's events nor ends the owner's stream.
      if (!sameOwner(session.owner, client)) return respond(res, notTheOwner());
      if (res.destroyed) return 0;
      if (!session.canReplayFrom(resume)) {
        // Events the client missed are gone from the replay buffer: resuming would leave a
        // silent hole, so the session ends and the client starts a new one.
        session.terminate();
        return respond(res, answer(404, 'Session can no longer be resumed: events were lost'));
      }
      session.attach(res, resume, false);
      return 200;
    }
    // A resume the store cannot serve now is refused before anything else (recovery/): never a
    // new session that silently lost the client's gap.
    const unavailable = refuseResume(this.#host, req, 'sse');
    if (unavailable) return this.#refuse(req, res, unavailable, fallback, extras);
    let offered: string[] = [];
    if (fallback.protocols) {
      try {
        offered = parseProtocols(fallback.protocols);
      } catch (error) {
        return respond(res, new HandshakeRejection(400, `Invalid __sy_protocols: ${(error as Error).message}`));
      }
    }
    const admitted = await this.#host.admit(req, fallback.url, offered, extras, server);
    if (admitted instanceof HandshakeRejection) {
      this.#host.rejected(req, admitted, fallback.url, extras.remoteAddress);
      return respond(res, admitted);
    }
    const owner = await requestOwner(this.#host, req, fallback.url, extras, settings);
    if (owner instanceof HandshakeRejection) {
      this.#host.release(admitted.place);
      return respond(res, owner);
    }
    if (res.destroyed) {
      this.#host.release(admitted.place);
      return 0;
    }
    if (extras.postReachable === false) this.#host.warnPostUnreachable(fallback.url);
    // A new SSE session may resume a durable session (recovery/), on any node.
    const durableResume = sseResume(this.#host, req);
    if (typeof durableResume === 'string') {
      this.#host.release(admitted.place);
      return respond(res, answer(400, durableResume));
    }
    const session = new SseSocket(this, admitted.protocol ?? '', settings, owner);
    this.#sessions.set(session.id, session);
    if (this.#host.hub.distributed) {
      // POSTs that land on another node come through the hub. The client may POST to another
      // node as soon as it reads `open`, so `open` waits until this node is subscribed; if the
      // backend is down, the session still works for POSTs that reach this node.
      const inbox = new Inbox((payload) => this.#deliverForwarded(session, payload));
      this.#inboxes.set(session, inbox);
      const topic = sessionTopic(session.id);
      this.#host.hub.add(inbox, topic);
      await this.#host.hub.whenSubscribed(topic).catch(() => {});
      if (res.destroyed) {
        session.terminate();
        return 0;
      }
    }
    // The durable session is restored before `open`, so that `ws.recovered` is known there.
    let resumed: (() => void) | undefined;
    if (durableResume) {
      // The store failed while the session was being restored: the same 503 as when it was
      // known to be down, and the client resumes again with the same token.
      let failed = false;
      resumed = await durableResume(session, fallback.url).catch(() => {
        failed = true;
        return undefined;
      });
      if (failed || res.destroyed) {
        session.terminate();
        this.#host.release(admitted.place);
        return res.destroyed ? 0 : this.#refuse(req, res, resumeUnavailable(), fallback, extras);
      }
    }
    session.attach(res, undefined, true);
    this.#host.open(
      session,
      new RequestInfo(
        fallback.url,
        keptHeaders(req.headers, this.#host.options.keepHeaders, this.#host.options.maxKeptHeaderLength),
        extras.remoteAddress ?? req.socket.remoteAddress,
      ),
      admitted,
      req,
    );
    resumed?.();
    return 200;
  }

  /** Answers a refused new session with HTTP and reports it, as a refused handshake is. */
  #refuse(
    req: IncomingMessage,
    res: ServerResponse,
    rejection: HandshakeRejection,
    fallback: FallbackParams,
    extras: RequestExtras,
  ): number {
    this.#host.rejected(req, rejection, fallback.url, extras.remoteAddress);
    return respond(res, rejection);
  }

  async #post(
    req: IncomingMessage,
    res: ServerResponse,
    id: string | undefined,
    fallback: FallbackParams,
    extras: RequestExtras,
    settings: ResolvedFallbackOptions,
  ): Promise<number> {
    const { maxPayload } = this.#host.options;
    // Who is asking comes first: without credentials, nothing else is looked at.
    const client = await identify(this.#host, req, fallback.url, extras, settings);
    if (client instanceof HandshakeRejection) return respond(res, client);
    const body = await readBody(req, maxPayload * 2 + 64 * 1024);
    if (body === undefined) return respond(res, answer(413, 'Body larger than maxPayload allows'));
    const post = parsePostBody(body, id);
    if (typeof post === 'string') return respond(res, answer(400, post));
    const session = this.#sessions.get(post.id);
    if (session) {
      if (!sameOwner(session.owner, client)) return respond(res, notTheOwner());
      const [status, text] = this.#deliverPost(session, post.message);
      // A `for await` loop that fell behind holds the answer: the client POSTs no more until then.
      const reading = whenReading(session);
      if (reading) await reading;
      return status === 204 ? respondEmpty(res, 204) : respond(res, answer(status, text));
    }
    if (this.#host.hub.distributed) {
      // The node that holds the session checks the owner: the digest travels with the body.
      try {
        await this.#host.hub.publish(sessionTopic(post.id), `${client.toString('base64')}\n${body}`);
      } catch {
        // The hub reports its outage once; the client retries this POST with the same body.
        return respond(res, answer(503, 'Cannot reach the node that holds this session', { 'Retry-After': '1' }));
      }
      return respondEmpty(res, 202);
    }
    return respond(res, answer(404, 'Unknown or expired session'));
  }

  #deliverPost(session: SseSocket, message: PostBody): [number, string] {
    if (message.ack !== undefined) session.acknowledge(message.ack as number);
    return session.receive(message.seq as number, message.frames as unknown[], this.#host.options.maxPayload);
  }

  #deliverForwarded(session: SseSocket, payload: string | Buffer): void {
    try {
      const text = payload.toString();
      const newline = text.indexOf('\n');
      // Another client's POST, forwarded by a node that could not tell: dropped, and the
      // owner's session goes on untouched.
      if (newline === -1 || !sameOwner(session.owner, Buffer.from(text.slice(0, newline), 'base64'))) return;
      const message = JSON.parse(text.slice(newline + 1)) as PostBody;
      this.#deliverPost(session, message);
    } catch (error) {
      this.#host.report(error);
    }
  }

  /** A session ended (SessionHost). */
  forget(session: SseSocket): void {
    this.#sessions.delete(session.id);
    const inbox = this.#inboxes.get(session);
    if (inbox) {
      this.#inboxes.delete(session);
      this.#host.hub.remove(inbox, sessionTopic(session.id));
    }
  }
}
