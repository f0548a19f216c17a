// Admission (src/endpoint/admission.ts): every check a new connection passes before its 101 or its SSE
// stream, in order, each answered with an HTTP status, and a hook that fails never escapes.
import { IncomingMessage } from 'node:http';
import { Socket } from 'node:net';
import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { Admissions } from '../src/endpoint/admission.js';
import type { Admission } from '../src/endpoint/admission.js';
import { HandshakeRejection, reject } from '../src/errors.js';
import { resolveOptions } from '../src/endpoint/options-resolve.js';
import type { Handlers } from '../src/endpoint/options-types.js';

/** A handshake request as Node parses it; admission reads headers and the peer address only. */
function request(headers: Record<string, string> = {}): IncomingMessage {
  const req = new IncomingMessage(new Socket());
  req.headers = { host: 'example.test', ...headers };
  req.url = '/chat';
  return req;
}

function admissions(handlers: Handlers<unknown> = {}, closing = false, report = vi.fn()): Admissions<unknown> {
  return new Admissions(resolveOptions(handlers as Handlers<unknown>), handlers.upgrade, { closing, report });
}

async function admit(
  checks: Admissions<unknown>,
  offered: string[] = [],
  headers: Record<string, string> = {},
  remoteAddress = '10.0.0.1',
): Promise<Admission<unknown>> {
  return checks.admit(request(headers), '/chat', offered, { remoteAddress }, undefined);
}

function rejection(result: Admission<unknown>): { status: number; message: string; headers: object } {
  expect(result).toBeInstanceOf(HandshakeRejection);
  const { status, message, headers } = result as HandshakeRejection;
  return { status, message, headers };
}

describe('admission', () => {
  it('admits a plain handshake with no subprotocol and no context', async () => {
    expect(await admit(admissions())).toEqual({
      protocol: undefined,
      context: undefined,
      place: undefined,
      expiresAt: undefined,
    });
  });

  it('refuses every handshake with 503 while its endpoint closes', async () => {
    expect(rejection(await admit(admissions({}, true)))).toEqual({
      status: 503,
      message: 'Server is shutting down',
      headers: { 'Retry-After': '5' },
    });
  });

  it('refuses a bearer token offered without a real subprotocol (browsers would fail the 101)', async () => {
    const token = Buffer.from('secret').toString('base64url');
    expect(rejection(await admit(admissions({ protocols: ['chat'] }), [`base64url.bearer.${token}`])).status).toBe(400);
  });

  it('checks the origin against the list, and lets a request without one through', async () => {
    const checks = admissions({ origins: ['https://good.test'] });
    expect(rejection(await admit(checks, [], { origin: 'https://evil.test' }))).toMatchObject({
      status: 403,
      message: 'Origin https://evil.test is not allowed',
    });
    expect(await admit(checks, [], { origin: 'https://good.test' })).not.toBeInstanceOf(HandshakeRejection);
    expect(await admit(checks)).not.toBeInstanceOf(HandshakeRejection);
  });

  it('selects the first subprotocol it speaks, and refuses an offer it speaks none of', async () => {
    const checks = admissions({ protocols: ['v2', 'v1'] });
    expect(await admit(checks, ['v1', 'v2'])).toMatchObject({ protocol: 'v2' });
    expect(rejection(await admit(checks, ['v3']))).toMatchObject({
      status: 400,
      message: 'Unsupported subprotocol: the client offered v3; this endpoint speaks v2, v1',
    });
  });

  it('reserves a place per address under maxConnectionsPerAddress, and gives it back on release', async () => {
    const checks = admissions({ maxConnectionsPerAddress: 1 } as Handlers<unknown>);
    const first = await admit(checks);
    expect(first).toMatchObject({ place: '10.0.0.1' });
    expect(rejection(await admit(checks))).toMatchObject({ status: 429, headers: { 'Retry-After': '1' } });
    expect(await admit(checks, [], {}, '10.0.0.2')).toMatchObject({ place: '10.0.0.2' });
    checks.release('10.0.0.1');
    expect(await admit(checks)).toMatchObject({ place: '10.0.0.1' });
  });

  it("passes the upgrade hook's context and expiry on, and answers its rejection as is", async () => {
    const expiresAt = Date.now() + 60_000;
    const checks = admissions({
      upgrade: (req) =>
        req.query.token === 'ok' ? { context: { user: 'ann' }, expiresAt } : reject(401, 'Who are you?'),
    });
    const admitted = await checks.admit(
      Object.assign(request(), { url: '/chat?token=ok' }),
      '/chat?token=ok',
      [],
      {},
      undefined,
    );
    expect(admitted).toMatchObject({ context: { user: 'ann' } });
    expect((admitted as { expiresAt: number }).expiresAt - performance.now()).toBeGreaterThan(50_000);
    expect(rejection(await admit(checks))).toMatchObject({ status: 401, message: 'Who are you?' });
  });

  it('answers a hook that throws something else with 500, reports it, and frees the place', async () => {
    const report = vi.fn();
    const failure = new Error('database down');
    const checks = admissions(
      {
        maxConnectionsPerAddress: 1,
        upgrade: async () => {
          throw failure;
        },
      } as Handlers<unknown>,
      false,
      report,
    );
    expect(rejection(await admit(checks))).toMatchObject({ status: 500, message: 'Internal Server Error' });
    expect(report).toHaveBeenCalledWith(failure);
    // The place reserved before the hook ran went back: the next handshake from there is not 429.
    expect(rejection(await admit(checks)).status).toBe(500);
  });

  it('settles a hook that answers at once without a promise, as an async hook would, freeing the place on a refusal', async () => {
    const outcomes = ['context', 'undefined', 'reject', 'throw', 'throw-rejection'] as const;
    const hookOf = (outcome: (typeof outcomes)[number]) => () => {
      if (outcome === 'context') return { context: { user: 'ann' } };
      if (outcome === 'reject') return reject(403, 'No');
      if (outcome === 'throw') throw new TypeError('boom');
      if (outcome === 'throw-rejection') throw reject(418, 'Teapot');
      return undefined;
    };
    for (const outcome of outcomes) {
      const hook = hookOf(outcome);
      const sync = admissions({ maxConnectionsPerAddress: 1, upgrade: hook } as Handlers<unknown>, false, vi.fn());
      const async = admissions(
        { maxConnectionsPerAddress: 1, upgrade: async () => hook() } as Handlers<unknown>,
        false,
        vi.fn(),
      );
      const now = sync.admit(request(), '/chat', [], { remoteAddress: '10.0.0.1' }, undefined);
      // The 101 waits for no promise when nothing asked for one.
      expect(now).not.toBeInstanceOf(Promise);
      const later = await async.admit(request(), '/chat', [], { remoteAddress: '10.0.0.1' }, undefined);
      expect(now).toEqual(later);
      // A refusal gave its place back; an admission holds it until released.
      const again = sync.admit(request(), '/chat', [], { remoteAddress: '10.0.0.1' }, undefined);
      if (now instanceof HandshakeRejection) expect(again).toEqual(now);
      else expect(rejection(again as Admission<unknown>).status).toBe(429);
    }
  });

  it('never throws: any offer, origin and hook outcome becomes an admission or a 4xx/5xx', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.string({ maxLength: 12 }), { maxLength: 4 }),
        fc.option(fc.string({ maxLength: 20 }), { nil: undefined }),
        fc.constantFrom('context', 'reject', 'throw', 'throw-rejection', 'undefined'),
        fc.boolean(),
        async (offered, origin, outcome, answersAtOnce) => {
          const decide = () => {
            if (outcome === 'context') return { context: 1 };
            if (outcome === 'reject') return reject(403);
            if (outcome === 'throw') throw new TypeError('boom');
            if (outcome === 'throw-rejection') throw reject(418);
            return undefined;
          };
          const checks = admissions(
            {
              protocols: ['chat'],
              origins: ['https://ok.test'],
              upgrade: answersAtOnce ? decide : async () => decide(),
            },
            false,
            vi.fn(),
          );
          const result = await admit(checks, offered, origin === undefined ? {} : { origin });
          if (result instanceof HandshakeRejection) {
            expect(result.status).toBeGreaterThanOrEqual(400);
            expect(result.status).toBeLessThan(600);
          } else {
            expect(result.protocol === undefined || result.protocol === 'chat').toBe(true);
          }
        },
      ),
      { numRuns: 200 },
    );
  });
});
