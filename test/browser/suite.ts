/**
 * A real browser against every adapter: Debian's Chromium, driven by playwright-core, over ws://
 * and over wss:// with a self-signed certificate.
 *
 *   const chromium = useChromium();      // one browser for the whole test file
 *   runBrowser(expressHarness, chromium);
 *
 * Every page is served by the server under test: Chromium's local-network checks would stop a
 * page on about:blank from reaching 127.0.0.1.
 */
import { readFileSync } from 'node:fs';
import type http from 'node:http';
import type { Socket } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { chromium } from 'playwright-core';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import type { Handlers } from '@switchyard/core';
import { reject } from '@switchyard/core';
import type { Harness, Mount, Started } from '../harness.js';
import { start } from '../harness.js';
import { echo, recordingEcho, requireAssertions, selfSignedCert } from '../helpers.js';

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  // wss:// against the suite's self-signed certificate.
  '--ignore-certificate-errors',
];

const chatDir = new URL('../../examples/express-chat/', import.meta.url);
const CHAT_PAGE = readFileSync(new URL('public/index.html', chatDir), 'utf8');
/** Where the page's own scripts run; the tests drive it with `page.evaluate`. */
const TEST_PAGE =
  '<!doctype html><html><head><meta charset="utf-8"><title>switchyard browser suite</title></head><body></body></html>';

/** Launches Chromium once for the test file and closes it after; returns a getter for it. */
export function useChromium(): () => Browser {
  let browser: Browser | undefined;
  beforeAll(async () => {
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
  }, 30_000);
  afterAll(async () => {
    await browser?.close();
  });
  return () => {
    if (!browser) throw new Error('Chromium is not running');
    return browser;
  };
}

/**
 * The status line of every HTTP response the server wrote, as an access log would show it. It
 * watches the sockets, not `ServerResponse`s: a refusal that switchyard writes after taking the
 * socket never passes through a response object.
 */
function accessLog(server: http.Server, secure: boolean): string[] {
  const log: string[] = [];
  server.on(secure ? 'secureConnection' : 'connection', (socket: Socket) => {
    const record = (chunk: unknown): void => {
      const text =
        typeof chunk === 'string' ? chunk.slice(0, 80) : Buffer.isBuffer(chunk) ? chunk.toString('latin1', 0, 80) : '';
      if (text.startsWith('HTTP/1.1 ')) log.push(text.slice(0, text.indexOf('\r\n')));
    };
    const { write, end } = socket;
    socket.write = function (this: Socket, chunk: unknown, ...rest: unknown[]) {
      record(chunk);
      return (write as (...args: unknown[]) => boolean).call(this, chunk, ...rest);
    } as Socket['write'];
    socket.end = function (this: Socket, chunk?: unknown, ...rest: unknown[]) {
      record(chunk);
      return (end as (...args: unknown[]) => Socket).call(this, chunk, ...rest);
    } as Socket['end'];
  });
  return log;
}

/** What a page learns from `new WebSocket(...)`. */
type Outcome =
  | { opened: true; protocol: string; extensions: string }
  | { opened: false; errored: boolean; code: number; wasClean: boolean };

/** Installed in every page before its scripts: promise helpers around the browser's WebSocket. */
interface PageHelpers {
  connect(url: string, protocols?: string[]): Promise<{ outcome: Outcome; ws: WebSocket; next(): Promise<unknown> }>;
}

function installPageHelpers(): void {
  const helpers: PageHelpers = {
    connect(url, protocols) {
      const ws = new WebSocket(url, protocols);
      ws.binaryType = 'arraybuffer';
      const queued: unknown[] = [];
      const waiters: Array<{ resolve(data: unknown): void; reject(error: Error): void }> = [];
      let closedWith: string | undefined;
      ws.addEventListener('message', (event) => {
        const waiter = waiters.shift();
        if (waiter) waiter.resolve(event.data);
        else queued.push(event.data);
      });
      // A close fails the waiting test at once, with the code, instead of a timeout.
      ws.addEventListener('close', (event) => {
        closedWith = `the socket closed with ${event.code} ${event.reason}`.trim();
        for (const waiter of waiters.splice(0)) waiter.reject(new Error(closedWith));
      });
      const next = (): Promise<unknown> => {
        if (queued.length > 0) return Promise.resolve(queued.shift());
        if (closedWith !== undefined) return Promise.reject(new Error(closedWith));
        return new Promise((resolve, reject) => waiters.push({ resolve, reject }));
      };
      return new Promise((resolve) => {
        let errored = false;
        ws.addEventListener('error', () => {
          errored = true;
        });
        ws.addEventListener('open', () =>
          resolve({ outcome: { opened: true, protocol: ws.protocol, extensions: ws.extensions }, ws, next }),
        );
        ws.addEventListener('close', (event) =>
          resolve({ outcome: { opened: false, errored, code: event.code, wasClean: event.wasClean }, ws, next }),
        );
      });
    },
  };
  (globalThis as unknown as { switchyard: PageHelpers }).switchyard = helpers;
}

/** Opens a socket from the page and reports how the opening went; the socket is closed after. */
function tryConnect(page: Page, url: string, protocols: string[] = []): Promise<Outcome> {
  return page.evaluate(
    async ([url, protocols]) => {
      const { outcome, ws } = await (globalThis as unknown as { switchyard: PageHelpers }).switchyard.connect(
        url,
        protocols,
      );
      ws.close();
      return outcome;
    },
    [url, protocols] as const,
  );
}

export function runBrowser(harness: Harness, browser: () => Browser): void {
  describe(`${harness.name}: Chromium`, () => {
    requireAssertions();
    let certificate: { key: string; cert: string };
    beforeAll(async () => {
      certificate = await selfSignedCert();
    });
    const running: Started[] = [];
    const contexts: BrowserContext[] = [];
    afterEach(async () => {
      await Promise.all(contexts.splice(0).map((context) => context.close()));
      await Promise.all(running.splice(0).map((s) => s.close()));
    });

    for (const scheme of ['ws', 'wss'] as const) {
      describe(scheme, () => {
        /** The app with `mounts` plus a test page at /page, its access log, and a fresh browser context. */
        const serve = async (mounts: Mount[]) => {
          const s = await start(
            harness,
            [...mounts, { path: '/page', handlers: echo, page: TEST_PAGE }],
            scheme === 'wss' ? { https: certificate } : {},
          );
          running.push(s);
          const log = accessLog(s.server, scheme === 'wss');
          const context = await browser().newContext();
          contexts.push(context);
          await context.addInitScript(installPageHelpers);
          const origin = `${scheme === 'wss' ? 'https' : 'http'}://127.0.0.1:${s.port}`;
          /** A page on `path`, with the console errors it logs. */
          const openPage = async (path = '/page'): Promise<{ page: Page; errors: string[]; contentType: string }> => {
            const page = await context.newPage();
            const errors: string[] = [];
            page.on('console', (message) => {
              if (message.type() === 'error') errors.push(message.text());
            });
            const response = await page.goto(`${origin}${path}`);
            expect(response?.status()).toBe(200);
            return { page, errors, contentType: response?.headers()['content-type'] ?? '' };
          };
          return { s, log, context, origin, openPage };
        };

        it('the chat example works end to end: two pages join, talk, and see each other leave', async () => {
          const { chatRoom } = (await import(new URL('chat.js', chatDir).href)) as { chatRoom(): Handlers<any> };
          const { openPage } = await serve([{ path: '/chat', handlers: chatRoom(), page: CHAT_PAGE }]);
          const { page: ann, contentType } = await openPage('/chat?name=ann');
          // Served as anything else, the page's script never runs.
          expect(contentType).toMatch(/^text\/html\b/);
          await expect.poll(() => ann.textContent('#status')).toBe('connected as ann (subprotocol chat)');
          const { page: bob } = await openPage('/chat?name=bob');
          await expect.poll(() => bob.textContent('#status')).toBe('connected as bob (subprotocol chat)');
          await expect
            .poll(() => ann.locator('#log li').allTextContents())
            .toContainEqual(expect.stringMatching(/^bob joined\b/));

          await ann.fill('#text', 'hello bob');
          await ann.press('#text', 'Enter');
          await expect.poll(() => bob.locator('#log li').allTextContents()).toContain('ann: hello bob');
          await bob.fill('#text', 'hi ann');
          await bob.click('#button');
          await expect.poll(() => ann.locator('#log li').allTextContents()).toContain('bob: hi ann');
          expect(await ann.locator('#log li').allTextContents()).toContain('ann: hello bob');

          await bob.close();
          await expect
            .poll(() => ann.locator('#log li').allTextContents())
            .toContainEqual(expect.stringMatching(/^bob left\b/));
        });

        it("new WebSocket(url, ['soap', 'chat']) gets chat; an endpoint speaking neither refuses, and the page sees the failure", async () => {
          const chat = recordingEcho({ protocols: ['chat'] });
          const { s, log, openPage } = await serve([
            { path: '/chat', handlers: chat.handlers },
            { path: '/json', handlers: { ...echo, protocols: ['json'] } },
          ]);
          const { page, errors } = await openPage();
          expect(await tryConnect(page, s.url('/chat'), ['soap', 'chat'])).toEqual({
            opened: true,
            protocol: 'chat',
            extensions: '',
          });
          expect(chat.seen.opens).toEqual([{ protocol: 'chat', extensions: '' }]);

          expect(await tryConnect(page, s.url('/json'), ['soap', 'chat'])).toEqual({
            opened: false,
            errored: true,
            code: 1006,
            wasClean: false,
          });
          expect(log).toContain('HTTP/1.1 400 Bad Request');
          await expect.poll(() => errors.join('\n')).toMatch(/WebSocket connection to '[^']*\/json' failed: .*400/);
        });

        /** Sends one message of exactly 1 MiB (the default maxPayload) over permessage-deflate and checks the echo. */
        const deflateRoundTrip = async (kind: 'text' | 'binary') => {
          const { handlers, seen } = recordingEcho({ compression: true });
          const { s, openPage } = await serve([{ path: '/deflate', handlers }]);
          const { page } = await openPage();
          const result = await page.evaluate(
            async ([url, kind]) => {
              const { outcome, ws, next } = await (
                globalThis as unknown as { switchyard: PageHelpers }
              ).switchyard.connect(url);
              const size = 1024 * 1024;
              let intact: boolean;
              if (kind === 'text') {
                const text = Array.from({ length: size / 16 }, (_, i) =>
                  ((i * 7919) % 1_000_003).toString(36).padStart(16, '.'),
                ).join('');
                ws.send(text);
                intact = (await next()) === text;
              } else {
                const binary = new Uint8Array(size);
                for (let at = 0; at < size; at += 65536) crypto.getRandomValues(binary.subarray(at, at + 65536));
                ws.send(binary);
                const back = new Uint8Array((await next()) as ArrayBuffer);
                intact = back.length === size && back.every((byte, i) => byte === binary[i]);
              }
              ws.close();
              return { outcome, intact };
            },
            [s.url('/deflate'), kind] as const,
          );
          expect(result.outcome.opened && result.outcome.extensions).toMatch(/^permessage-deflate\b/);
          expect(seen.opens[0]?.extensions).toMatch(/^permessage-deflate\b/);
          expect(result.intact).toBe(true);
          expect(seen.messages).toEqual([{ length: 1024 * 1024, isBinary: kind === 'binary' }]);
        };

        it('permessage-deflate is negotiated with compression on, and a 1 MiB text message round-trips intact', async () => {
          await deflateRoundTrip('text');
        });

        it('permessage-deflate: a 1 MiB message of random bytes (deflate makes it larger) round-trips intact', async () => {
          await deflateRoundTrip('binary');
        });

        it('binary frames round-trip: an ArrayBuffer and a Blob', async () => {
          const { handlers, seen } = recordingEcho();
          const { s, openPage } = await serve([{ path: '/binary', handlers }]);
          const { page } = await openPage();
          const result = await page.evaluate(async (url) => {
            const { ws, next } = await (globalThis as unknown as { switchyard: PageHelpers }).switchyard.connect(url);
            const bytes = Uint8Array.from({ length: 300 }, (_, i) => (i * 31) & 0xff);
            ws.send(bytes.buffer);
            const fromBuffer = [...new Uint8Array((await next()) as ArrayBuffer)];
            ws.binaryType = 'blob';
            ws.send(
              new Blob([bytes.subarray(0, 100), new Uint8Array([0xff, 0x00])], { type: 'application/octet-stream' }),
            );
            const blob = (await next()) as Blob;
            const fromBlob = [blob instanceof Blob, [...new Uint8Array(await blob.arrayBuffer())]];
            ws.close();
            return { sent: [...bytes], fromBuffer, fromBlob };
          }, s.url('/binary'));
          expect(result.fromBuffer).toEqual(result.sent);
          expect(result.fromBlob).toEqual([true, [...result.sent.slice(0, 100), 0xff, 0x00]]);
          expect(seen.messages).toEqual([
            { length: 300, isBinary: true },
            { length: 102, isBinary: true },
          ]);
        });

        it('auth: without the cookie or token the handshake fails with a 401 in the server log; with either it connects', async () => {
          const guarded: string[] = [];
          const { s, log, context, origin, openPage } = await serve([
            {
              path: '/private',
              handlers: echo,
              guard: (req) => {
                const ok =
                  /(?:^|;\s*)session=letmein(?:;|$)/.test(req.headers.cookie ?? '') ||
                  new URL(req.url, 'http://x').searchParams.get('token') === 'letmein';
                guarded.push(`${ok ? 'pass' : '401'} ${req.headers.cookie ?? '-'}`);
                return ok
                  ? undefined
                  : { status: 401, headers: { 'WWW-Authenticate': 'Bearer realm="chat"' }, body: 'log in first' };
              },
            },
          ]);
          const { page, errors } = await openPage();
          expect(await tryConnect(page, s.url('/private'))).toEqual({
            opened: false,
            errored: true,
            code: 1006,
            wasClean: false,
          });
          expect(await tryConnect(page, s.url('/private?token=wrong'))).toMatchObject({ opened: false });
          expect(log.filter((line) => line === 'HTTP/1.1 401 Unauthorized')).toHaveLength(2);
          expect(log).not.toContain('HTTP/1.1 101 Switching Protocols');
          await expect.poll(() => errors.join('\n')).toMatch(/WebSocket connection to '[^']*\/private' failed/);

          expect(await tryConnect(page, s.url('/private?token=letmein'))).toMatchObject({ opened: true });
          await context.addCookies([{ name: 'session', value: 'letmein', url: origin }]);
          const echoed = await page.evaluate(async (url) => {
            const { outcome, ws, next } = await (
              globalThis as unknown as { switchyard: PageHelpers }
            ).switchyard.connect(url);
            if (!outcome.opened) return outcome;
            ws.send('with the cookie');
            const reply = await next();
            ws.close();
            return reply;
          }, s.url('/private'));
          expect(echoed).toBe('with the cookie');
          expect(guarded).toEqual(['401 -', '401 -', 'pass -', 'pass session=letmein']);
          expect(log.filter((line) => line === 'HTTP/1.1 101 Switching Protocols')).toHaveLength(2);
        });

        it('a bearer token as a subprotocol entry: the hook gets it, the page sees ws.protocol === "chat", the token is never echoed', async () => {
          const tokens: Array<string | undefined> = [];
          const { s, openPage } = await serve([
            {
              path: '/bearer',
              handlers: {
                ...echo,
                protocols: ['chat'],
                upgrade(req) {
                  tokens.push(req.bearerToken);
                  if (req.bearerToken !== 'letmein')
                    throw reject(401, 'Unauthorized', { 'WWW-Authenticate': 'Bearer' });
                  return undefined;
                },
              },
            },
          ]);
          const protocolHeaders: string[] = [];
          s.server.prependListener(scheme === 'wss' ? 'secureConnection' : 'connection', (socket: Socket) => {
            socket.on('data', () => {});
            const { write } = socket;
            socket.write = function (this: Socket, chunk: unknown, ...rest: unknown[]) {
              const text = Buffer.isBuffer(chunk) ? chunk.toString('latin1') : String(chunk);
              const line = /\r\nSec-WebSocket-Protocol: ([^\r]*)/i.exec(text);
              if (line) protocolHeaders.push(line[1]!);
              return (write as (...args: unknown[]) => boolean).call(this, chunk, ...rest);
            } as Socket['write'];
          });
          const { page, errors } = await openPage();
          const entry = (token: string): string => `base64url.bearer.${Buffer.from(token).toString('base64url')}`;
          const echoed = await page.evaluate(
            async ([url, protocols]) => {
              const { outcome, ws, next } = await (
                globalThis as unknown as { switchyard: PageHelpers }
              ).switchyard.connect(url, protocols);
              if (!outcome.opened) return outcome;
              ws.send('with a token');
              const reply = await next();
              ws.close();
              return { protocol: ws.protocol, reply };
            },
            [s.url('/bearer'), ['chat', entry('letmein')]] as [string, string[]],
          );
          expect(echoed).toEqual({ protocol: 'chat', reply: 'with a token' });
          expect(await tryConnect(page, s.url('/bearer'), ['chat', entry('wrong')])).toMatchObject({ opened: false });
          expect(tokens).toEqual(['letmein', 'wrong']);
          expect(protocolHeaders).toEqual(['chat']);
          expect(errors.join('\n')).not.toContain('Sec-WebSocket-Protocol');
        });
      });
    }
  });
}
