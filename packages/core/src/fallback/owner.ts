/**
 * Who may use a fallback session: the owner digest a session is bound to when it opens, and
 * the identification of every later POST and resume against it (origin check, `upgrade` hook,
 * then `fallback.owner` or the request's credentials). A different owner gets 403.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { ErrorCode, HandshakeRejection, withCode } from '../errors.js';
import type { Hooks, ResolvedOptions } from '../endpoint/options-types.js';
import { UpgradeRequest } from '../handshake/request.js';
import type { RequestExtras } from '../handshake/request.js';
import type { ResolvedFallbackOptions } from './settings.js';
import { answer } from './answer.js';
import type { HttpAnswer } from './answer.js';

/** The identity a session is bound to: a digest, compared in constant time. */
export type Owner = Buffer;

/** The owner digest of `name`, as returned by a `fallback.owner` function. */
export function ownerOf(name: string): Owner {
  return createHash('sha256').update('owner\0').update(name).digest();
}

/** The default owner: the credentials a request carries besides cookies (see FallbackOptions.owner). */
export function credentialsOf(authorization: string | undefined, url: string): Owner {
  return createHash('sha256')
    .update('credentials\0')
    .update(authorization ?? '')
    .update('\0')
    .update(url)
    .digest();
}

/** True when two owner digests are the same. */
export function sameOwner(a: Owner, b: Owner): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/** The answer to a POST or resume from a client that does not own the session. */
export function notTheOwner(): HttpAnswer {
  return answer(403, 'This session belongs to another client');
}

/** What identifying a client needs of the endpoint (a part of FallbackHost). */
export interface OwnerHost<Context> {
  readonly options: ResolvedOptions;
  readonly upgradeHook: Hooks<Context>['upgrade'];
  /** Reports an error of the app's (an `upgrade` hook or `fallback.owner` that threw). */
  report(error: unknown): void;
}

/**
 * Who sends a POST or a resume, as the endpoint's auth sees it: the origin check and the
 * `upgrade` hook run as for a new session (a rejection is answered as is), then the owner
 * is computed the way the session's was.
 */
export async function identify<Context>(
  host: OwnerHost<Context>,
  req: IncomingMessage,
  url: string,
  extras: RequestExtras,
  settings: ResolvedFallbackOptions,
): Promise<Owner | HandshakeRejection> {
  const hook = host.upgradeHook;
  const { origins } = host.options;
  const origin = req.headers.origin;
  if (hook || (origins !== undefined && origin !== undefined)) {
    const upgradeRequest = new UpgradeRequest(
      req,
      url,
      extras.params ?? {},
      extras.state ?? {},
      [],
      extras.remoteAddress,
    );
    if (
      origins !== undefined &&
      origin !== undefined &&
      !(typeof origins === 'function' ? origins(origin, upgradeRequest) : origins.includes(origin))
    ) {
      return new HandshakeRejection(403, `Origin ${origin} is not allowed`);
    }
    if (hook) {
      try {
        const result = await hook(upgradeRequest);
        if (result instanceof HandshakeRejection) return result;
      } catch (error) {
        if (error instanceof HandshakeRejection) return error;
        host.report(error);
        return new HandshakeRejection(500, 'Internal Server Error');
      }
    }
  }
  return requestOwner(host, req, url, extras, settings);
}

/** The identity a session is bound to: `fallback.owner`'s answer, or the request's credentials. */
export async function requestOwner<Context>(
  host: OwnerHost<Context>,
  req: IncomingMessage,
  url: string,
  extras: RequestExtras,
  settings: ResolvedFallbackOptions,
): Promise<Owner | HandshakeRejection> {
  if (!settings.owner) return credentialsOf(req.headers.authorization, url);
  try {
    const name = await settings.owner(
      new UpgradeRequest(req, url, extras.params ?? {}, extras.state ?? {}, [], extras.remoteAddress),
    );
    if (typeof name !== 'string')
      throw withCode(
        new TypeError(`fallback.owner() must return a string, got ${typeof name}`),
        ErrorCode.INVALID_OWNER,
      );
    return ownerOf(name);
  } catch (error) {
    if (error instanceof HandshakeRejection) return error;
    host.report(error);
    return new HandshakeRejection(500, 'Internal Server Error');
  }
}
