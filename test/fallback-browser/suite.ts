/**
 * `@switchyard/client` in Chromium (playwright-core) through each proxy mode of test/proxy.ts.
 *
 *   const chromium = useChromium();   // from ../browser/suite.js: one Chromium per test file
 *   runFallbackBrowser(expressHarness, chromium);
 *
 * The page and the client's modules (packages/client/dist) are served by the server under
 * test, through the proxy: Chromium's local-network checks would stop a page on about:blank from
 * reaching 127.0.0.1, and the client's relative URL then resolves against the page.
 */
import { readFile } from 'node:fs/promises';
import type http from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import type { Harness } from '../harness.js';
import { EXPECTED_TRANSPORT, LIVENESS, fallbackFixture, loadChatRoom, chatEcho } from '../fallback/suite.js';
import type { ProxyMode } from '../proxy.js';
import { requireAssertions } from '../helpers.js';

const CLIENT_DIST = new URL('../../packages/client/dist/', import.meta.url);
const PAGE_PATH = '/fallback-test-page';
/** The page loads the client's modules itself: the client is what a browser gets from dist. */
const PAGE =
  '<!doctype html><html><head><meta charset="utf-8"><title>switchyard fallback</title>' +
  '<script type="module">import * as client from "/client/index.js"; globalThis.switchyardClient = client;</script>' +
  '</head><body></body></html>';

type Client = typeof import('@switchyard/client');
/** The page's globals that these tests use. */
type PageGlobals = typeof globalThis & {
  switchyardClient: Client;
  location: { href: string; origin: string };
  sessionStorage: { getItem(key: string): string | null };
  chat: {
    socket: import('@switchyard/client').SwitchyardSocket;
    events: Array<{ type: string; name: string; text?: string }>;
  };
};

/**
 * Puts the test page and the client's modules in front of the app: `GET /fallback-test-page`
 * and `GET /client/<file>.js`. Everything else goes to the app's own listeners.
 */
function serveClient(server: http.Server): void {
  const app = server.listeners('request') as Array<(req: http.IncomingMessage, res: http.ServerResponse) => void>;
  server.removeAllListeners('request');
  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    const path = (req.url ?? '/').split('?')[0]!;
    if (req.method === 'GET' && path === PAGE_PATH) {
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' }).end(PAGE);
      return;
    }
    const file = /^\/client\/([\w-]+\.js)$/.exec(path)?.[1];
    if (req.method === 'GET' && file) {
      readFile(new URL(file, CLIENT_DIST)).then(
        (code) => res.writeHead(200, { 'Content-Type': 'text/javascript; charset=utf-8' }).end(code),
        () => res.writeHead(404).end(),
      );
      return;
    }
    for (const listener of app) listener.call(server, req, res);
  });
}

/** What a page reports after using the client. */
interface PageReport {
  transport: string | undefined;
  protocol: string;
  openedAfter: number;
  received: string[];
  remembered: string | null;
}

/** In the page: connect to `path`, send text and binary, collect `expected` messages, close. */
function exchange(page: Page, path: string, livenessTimeout: number, expected: number): Promise<PageReport> {
  return page.evaluate(
    async ([path, livenessTimeout, expected]) => {
      const page = globalThis as PageGlobals;
      const { connect } = page.switchyardClient;
      const started = performance.now();
      const socket = connect(path, { protocols: ['chat'], livenessTimeout, reconnect: { initialDelay: 50 } });
      const received: string[] = [];
      let done: () => void = () => {};
      const all = new Promise<void>((resolve) => {
        done = resolve;
      });
      socket.onmessage = (event) => {
        received.push(
          typeof event.data === 'string' ? event.data : `bytes:${[...new Uint8Array(event.data)].join(',')}`,
        );
        if (received.length === expected) done();
      };
      await new Promise<void>((resolve, reject) => {
        socket.onopen = () => resolve();
        socket.onclose = (event) => reject(new Error(`closed ${event.code} ${event.reason}`));
      });
      const openedAfter = performance.now() - started;
      socket.send('from the page ✓');
      socket.send(new Uint8Array([0, 128, 255]));
      socket.send(new Blob(['blob']));
      await Promise.race([all, new Promise((resolve) => setTimeout(resolve, 5000))]);
      socket.close();
      const key = `switchyard:transport:${page.location.origin}${new URL(path, page.location.href).pathname}`;
      return {
        transport: socket.transport,
        protocol: socket.protocol,
        openedAfter,
        received,
        remembered: page.sessionStorage.getItem(key),
      };
    },
    [path, livenessTimeout, expected] as const,
  );
}

export function runFallbackBrowser(harness: Harness, browser: () => Browser): void {
  describe(`${harness.name}: Chromium through each proxy mode`, () => {
    requireAssertions();
    const fixture = fallbackFixture(harness);
    const contexts: BrowserContext[] = [];
    afterEach(async () => {
      await Promise.all(contexts.splice(0).map((context) => context.close()));
    });

    async function pageAt(url: string): Promise<Page> {
      const context = await browser().newContext();
      contexts.push(context);
      const page = await context.newPage();
      const response = await page.goto(url);
      expect(response?.status()).toBe(200);
      await page.waitForFunction(() => (globalThis as Partial<PageGlobals>).switchyardClient !== undefined);
      return page;
    }

    for (const mode of ['pass', 'refuse-upgrade', 'drop-after-101'] as ProxyMode[]) {
      it(`${mode}: the page's client talks over ${EXPECTED_TRANSPORT[mode]}`, async () => {
        const { handlers, seen } = chatEcho();
        const server = await fixture.serve([{ path: '/echo', handlers }]);
        serveClient(server.server);
        const proxy = await fixture.proxy(server.port, mode);
        const page = await pageAt(proxy.url(PAGE_PATH));
        const report = await exchange(page, '/echo', LIVENESS, 4);
        expect(report.received).toEqual(['welcome', 'from the page ✓', 'bytes:0,128,255', 'bytes:98,108,111,98']);
        expect(seen.messages).toEqual(['from the page ✓', 'bytes:0,128,255', 'bytes:98,108,111,98']);
        expect(report.transport).toBe(EXPECTED_TRANSPORT[mode]);
        expect(report.protocol).toBe('chat');
        expect(seen.opens.at(-1)).toEqual({ transport: EXPECTED_TRANSPORT[mode], protocol: 'chat' });
        if (mode === 'drop-after-101') {
          expect(report.openedAfter).toBeGreaterThanOrEqual(LIVENESS);
          expect(report.openedAfter).toBeLessThan(LIVENESS + 1500);
        } else {
          expect(report.openedAfter).toBeLessThan(LIVENESS);
        }
        // The choice is remembered for the page session only when the WebSocket failed.
        expect(report.remembered).toBe(mode === 'pass' ? null : 'sse');
        if (mode !== 'pass') {
          const upgrades = proxy.requests.filter((r) => r.headers.upgrade).length;
          const again = await exchange(page, '/echo', LIVENESS, 4);
          expect(again.transport).toBe('sse');
          expect(again.openedAfter).toBeLessThan(LIVENESS);
          expect(proxy.requests.filter((r) => r.headers.upgrade).length).toBe(upgrades);
        }
      });
    }

    it("the chat room with the page's client on SSE only and a Node client", async () => {
      const chatRoom = await loadChatRoom();
      const server = await fixture.serve([{ path: '/chat', handlers: chatRoom() }]);
      serveClient(server.server);
      const proxy = await fixture.proxy(server.port, 'pass');
      const page = await pageAt(proxy.url(PAGE_PATH));
      await page.evaluate(async () => {
        const page = globalThis as PageGlobals;
        const socket = page.switchyardClient.connect('/chat?name=page', { protocols: ['chat'], transports: ['sse'] });
        page.chat = { socket, events: [] };
        socket.onmessage = (event) =>
          page.chat.events.push(JSON.parse(event.data as string) as PageGlobals['chat']['events'][number]);
        await new Promise((resolve) => {
          socket.onopen = resolve;
        });
      });
      const node = fixture.client(proxy.url('/chat?name=node'), { WebSocket: undefined, protocols: ['chat'] });
      await node.opened();
      const pageEvents = (): Promise<PageGlobals['chat']['events']> =>
        page.evaluate(() => (globalThis as PageGlobals).chat.events);
      await expect
        .poll(async () => (await pageEvents()).some((e) => e.type === 'join' && e.name === 'node'))
        .toBe(true);
      await page.evaluate(() => (globalThis as PageGlobals).chat.socket.send('hello from the page'));
      await expect
        .poll(
          () =>
            node.received
              .map((m) => JSON.parse(m as string) as { type: string; text?: string })
              .find((e) => e.type === 'message')?.text,
        )
        .toBe('hello from the page');
      node.socket.send('hello from node');
      await expect
        .poll(async () => (await pageEvents()).filter((e) => e.type === 'message').map((e) => `${e.name}: ${e.text}`))
        .toEqual(['page: hello from the page', 'node: hello from node']);
      expect(proxy.requests.filter((r) => r.headers.upgrade)).toHaveLength(0);
      await page.evaluate(() => (globalThis as PageGlobals).chat.socket.close());
    });
  });
}
