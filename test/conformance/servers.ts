/** Conformance: servers, plain requests, per-endpoint settings, coexistence with other upgrade listeners, and shutdown. */
import { describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { CloseCode } from '@switchyard/core';
import {
  RawClient,
  closed,
  delay,
  handshakeRequest,
  messages,
  openWs,
  readResponse,
  selfSignedCert,
} from '../helpers.js';
import type { Conformance } from './context.js';
import { echo } from './context.js';

export function describeServers({ harness, serve, track }: Conformance): void {
  describe('1. servers', () => {
    it('serves ws:// from http.createServer', async () => {
      const s = await serve([{ path: '/echo', handlers: echo }]);
      const ws = track(await openWs(s.url('/echo')));
      const inbox = messages(ws);
      ws.send('over http');
      expect((await inbox.next()).data.toString()).toBe('over http');
    });

    it('serves wss:// from https.createServer with a self-signed certificate', async () => {
      const tlsOptions = await selfSignedCert();
      const s = await serve([{ path: '/echo', handlers: echo }], { https: tlsOptions });
      expect(s.url('/echo').startsWith('wss://')).toBe(true);
      const ws = track(await openWs(s.url('/echo'), undefined, { ca: tlsOptions.cert }));
      const inbox = messages(ws);
      ws.send('over tls');
      expect((await inbox.next()).data.toString()).toBe('over tls');
      // And a second connection, after the server has seen a request.
      const again = track(await openWs(s.url('/echo'), undefined, { ca: tlsOptions.cert }));
      const inbox2 = messages(again);
      again.send('again');
      expect((await inbox2.next()).data.toString()).toBe('again');
    });
  });

  describe('4. plain requests pass through', () => {
    it('a GET without Upgrade reaches the page handler on the same path', async () => {
      const s = await serve([{ path: '/chat', handlers: echo, page: 'the chat page' }]);
      const response = await fetch(`http://127.0.0.1:${s.port}/chat`);
      expect(response.status).toBe(200);
      expect(await response.text()).toBe('the chat page');
      const ws = track(await openWs(s.url('/chat')));
      ws.send('upgraded');
      expect((await messages(ws).next()).data.toString()).toBe('upgraded');
      const again = await fetch(`http://127.0.0.1:${s.port}/chat`);
      expect(await again.text()).toBe('the chat page');
    });
  });

  describe('9. per-endpoint settings', () => {
    it('two mounts keep their own protocols, compression and maxPayload', async () => {
      const s = await serve([
        { path: '/a', handlers: { ...echo, protocols: ['alpha'], compression: true, maxPayload: 100 } },
        { path: '/b', handlers: { ...echo, protocols: ['beta'], maxPayload: 10_000 } },
      ]);
      const a = track(await openWs(s.url('/a'), ['alpha', 'beta'], { perMessageDeflate: true }));
      const b = track(await openWs(s.url('/b'), ['alpha', 'beta'], { perMessageDeflate: true }));
      expect(a.protocol).toBe('alpha');
      expect(b.protocol).toBe('beta');
      expect(a.extensions).toContain('permessage-deflate');
      expect(b.extensions).toBe('');
      const bInbox = messages(b);
      b.send('x'.repeat(5000));
      expect((await bInbox.next()).data.length).toBe(5000);
      const aClosed = closed(a);
      a.send('x'.repeat(5000));
      expect((await aClosed).code).toBe(CloseCode.MESSAGE_TOO_BIG);
    });
  });

  describe('10. coexistence', () => {
    it("another 'upgrade' consumer keeps its sockets; unclaimed upgrades get the framework's 404", async () => {
      const s = await serve([{ path: '/echo', handlers: echo }]);
      harness.coexist?.(s.server);
      const other = new WebSocketServer({ noServer: true });
      other.on('connection', (ws) => ws.send('from the other server'));
      s.server.on('upgrade', (req, socket, head) => {
        if (req.url === '/other') other.handleUpgrade(req, socket, head, (ws) => other.emit('connection', ws, req));
      });
      for (let round = 0; round < 2; round++) {
        const o = track(await openWs(s.url('/other')));
        expect((await messages(o).next()).data.toString()).toBe('from the other server');
        const e = track(await openWs(s.url('/echo')));
        const inbox = messages(e);
        e.send('mine');
        expect((await inbox.next()).data.toString()).toBe('mine');
      }
      const raw = track(await RawClient.connect(s.port));
      raw.write(handshakeRequest('/nowhere'));
      const response = await raw.response();
      expect(response.status).toBe(404);
      await raw.waitClosed();
      other.close();
    });
  });

  describe('13. shutdown', () => {
    it('every client gets 1001, close handlers run, and new upgrades get 503', async () => {
      const closes: number[] = [];
      const s = await serve([
        {
          path: '/echo',
          handlers: {
            ...echo,
            async close(_ws, event) {
              await delay(50);
              closes.push(event.code);
            },
          },
        },
      ]);
      const a = track(await openWs(s.url('/echo')));
      const b = track(await openWs(s.url('/echo')));
      const codes = Promise.all([closed(a), closed(b)]);
      const done = harness.shutdown(s.server);
      const raw = track(await RawClient.connect(s.port));
      raw.write(handshakeRequest('/echo'));
      const response = await readResponse(raw);
      expect(response.status).toBe(503);
      await done;
      expect(closes).toEqual([CloseCode.GOING_AWAY, CloseCode.GOING_AWAY]);
      expect((await codes).map((c) => c.code)).toEqual([CloseCode.GOING_AWAY, CloseCode.GOING_AWAY]);
    });
  });
}
