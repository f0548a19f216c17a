/** Conformance: the Connection API: request, headers, params, faye-style listeners, ping and pong. */
import { describe, expect, it, vi } from 'vitest';
import type { CloseEvent, Connection } from '@switchyard/core';
import { Opcode, RawClient, handshakeRequest, messages, openWs, quietFor, readResponse } from '../helpers.js';
import type { Conformance } from './context.js';
import { echo } from './context.js';

export function describeConnection({ serve, track }: Conformance): void {
  describe('connection API', () => {
    it('exposes request, protocol, readyState, context, and text as string / binary as Buffer', async () => {
      let seen: Record<string, unknown> = {};
      const s = await serve([
        {
          path: '/api',
          user: 'ann',
          handlers: {
            heartbeat: false,
            protocols: ['chat'],
            upgrade(req) {
              return { context: { user: String(req.state.user ?? req.query.user), id: req.query.id } };
            },
            message(ws: Connection<{ user: string }>, data, isBinary) {
              seen = {
                type: typeof data,
                isBuffer: Buffer.isBuffer(data),
                isBinary,
                readyState: ws.readyState,
                protocol: ws.protocol,
                path: ws.request.path,
                url: ws.request.url,
                query: { ...ws.request.query },
                origin: ws.request.origin,
                remote: ws.request.remoteAddress,
                host: ws.request.headers.host,
                user: ws.context.user,
                extensions: ws.extensions,
              };
              ws.send(isBinary ? data : `${ws.context.user}: ${String(data)}`);
            },
          },
        },
      ]);
      const ws = track(await openWs(s.url('/api?id=7&id=8'), ['chat'], { origin: 'https://app.example' }));
      const inbox = messages(ws);
      ws.send('hi');
      expect((await inbox.next()).data.toString()).toBe('ann: hi');
      expect(seen).toEqual({
        type: 'string',
        isBuffer: false,
        isBinary: false,
        readyState: 1,
        protocol: 'chat',
        path: '/api',
        url: '/api?id=7&id=8',
        query: { id: ['7', '8'] },
        origin: 'https://app.example',
        remote: '127.0.0.1',
        host: `127.0.0.1:${s.port}`,
        user: 'ann',
        extensions: '',
      });
      ws.send(Buffer.from([1, 2, 3]));
      const binary = await inbox.next();
      expect(binary.isBinary).toBe(true);
      expect([...binary.data]).toEqual([1, 2, 3]);
      expect(seen.isBuffer).toBe(true);
    });

    it('ws.request.headers keeps the default list (no credentials, nothing padded); the upgrade hook sees them all', async () => {
      let hookSaw: Record<string, unknown> = {};
      let kept: Record<string, unknown> = {};
      const s = await serve([
        {
          path: '/headers',
          handlers: {
            heartbeat: false,
            protocols: ['chat'],
            upgrade(req) {
              hookSaw = { ...req.headers };
            },
            open(ws) {
              kept = { ...ws.request.headers };
              ws.send('ok');
            },
          },
        },
      ]);
      const headers = {
        'x-trace': 'abc',
        cookie: 'sid=1',
        'x-forwarded-for': '203.0.113.9',
        'user-agent': 'u'.repeat(2000),
      };
      const ws = track(await openWs(s.url('/headers'), ['chat'], { headers }));
      expect((await messages(ws).next()).data.toString()).toBe('ok');
      for (const name of [
        'upgrade',
        'connection',
        'sec-websocket-key',
        'sec-websocket-version',
        'x-trace',
        'cookie',
        'user-agent',
      ]) {
        expect(hookSaw[name], name).toBeDefined();
      }
      expect(kept).toEqual({ host: `127.0.0.1:${s.port}`, 'x-forwarded-for': '203.0.113.9' });
    });

    it("keepHeaders names the headers a connection keeps, whole; true keeps all but the handshake's own", async () => {
      const seen: Record<string, Record<string, unknown>> = {};
      const open = (name: string) => (ws: Connection) => {
        seen[name] = { ...ws.request.headers };
        ws.send('ok');
      };
      const s = await serve([
        {
          path: '/named',
          handlers: { heartbeat: false, keepHeaders: ['X-Trace', 'cookie'], protocols: ['chat'], open: open('named') },
        },
        { path: '/all', handlers: { heartbeat: false, keepHeaders: true, protocols: ['chat'], open: open('all') } },
      ]);
      const headers = { 'x-trace': 'abc', cookie: `sid=${'c'.repeat(3000)}`, 'x-other': '1' };
      for (const path of ['/named', '/all']) {
        const ws = track(await openWs(s.url(path), ['chat'], { headers }));
        expect((await messages(ws).next()).data.toString()).toBe('ok');
      }
      expect(seen.named).toEqual({ 'x-trace': 'abc', cookie: headers.cookie });
      expect(seen.all).toMatchObject({ host: `127.0.0.1:${s.port}`, ...headers, 'sec-websocket-protocol': 'chat' });
      for (const name of [
        'upgrade',
        'connection',
        'sec-websocket-key',
        'sec-websocket-version',
        'sec-websocket-extensions',
      ]) {
        expect(seen.all![name], name).toBeUndefined();
      }
    });

    it("socket listeners from before the request (connection tracking) stay on the WebSocket's socket", async () => {
      const s = await serve([{ path: '/tracked', handlers: echo }]);
      const seen: string[] = [];
      s.server.on('connection', (socket) => {
        socket.on('close', () => seen.push('close'));
        socket.once('end', () => seen.push('end'));
      });
      const ws = track(await openWs(s.url('/tracked')));
      const inbox = messages(ws);
      ws.send('still echoing');
      expect((await inbox.next()).data.toString()).toBe('still echoing');
      ws.close(1000);
      await vi.waitFor(() => expect(seen).toEqual(['end', 'close']));
    });

    it('route params reach the upgrade hook', async () => {
      const s = await serve([
        {
          path: '/rooms/:id',
          handlers: {
            heartbeat: false,
            upgrade(req) {
              return { context: req.params.id };
            },
            open(ws) {
              ws.send(`room ${String(ws.context)}`);
            },
          },
        },
      ]);
      const ws = track(await openWs(s.url('/rooms/42')));
      expect((await messages(ws).next()).data.toString()).toBe('room 42');
    });

    it('faye style: a function per connection with on(message/close)', async () => {
      const closes: Array<CloseEvent & { from: string | undefined }> = [];
      const s = await serve([
        {
          path: '/events',
          handlers: (ws, req) => {
            ws.send(`hello ${req.path}`);
            ws.on('message', (data) => ws.send(data));
            ws.on('close', (event) => closes.push({ ...event, from: ws.request.remoteAddress }));
          },
        },
      ]);
      const ws = track(await openWs(s.url('/events')));
      const inbox = messages(ws);
      expect((await inbox.next()).data.toString()).toBe('hello /events');
      ws.send('echo me');
      expect((await inbox.next()).data.toString()).toBe('echo me');
      ws.close(4000, 'bye');
      // The address is read from the socket lazily; a close listener still gets it after the socket is gone.
      await vi.waitFor(() =>
        expect(closes).toEqual([{ code: 4000, reason: 'bye', wasClean: true, from: '127.0.0.1' }]),
      );
    });

    it('a close hook sees the peer address after the socket is gone, also when the peer vanished', async () => {
      const seen: Array<[number, string | undefined]> = [];
      const s = await serve([
        {
          path: '/bye',
          handlers: {
            heartbeat: false,
            close(ws, event) {
              seen.push([event.code, ws.request.remoteAddress]);
            },
          },
        },
      ]);
      const clean = track(await openWs(s.url('/bye')));
      clean.close(1000);
      const raw = track(await RawClient.connect(s.port));
      raw.write(handshakeRequest('/bye'));
      expect((await readResponse(raw)).status).toBe(101);
      raw.destroy();
      await vi.waitFor(() => expect(seen).toHaveLength(2));
      expect(seen.sort()).toEqual([
        [1000, '127.0.0.1'],
        [1006, '127.0.0.1'],
      ]);
    });

    it('ping() resolves with the round-trip time; ping and pong hooks fire', async () => {
      const rtts: number[] = [];
      const events: string[] = [];
      const s = await serve([
        {
          path: '/ping',
          handlers: {
            heartbeat: false,
            async open(ws) {
              rtts.push(await ws.ping(), await ws.ping('custom'));
              ws.send('measured');
            },
            ping(_ws, data) {
              events.push(`ping:${data.toString()}`);
            },
            pong(_ws, data) {
              events.push(`pong:${data.length > 0}`);
            },
          },
        },
      ]);
      const ws = track(await openWs(s.url('/ping')));
      expect((await messages(ws).next()).data.toString()).toBe('measured');
      expect(rtts).toHaveLength(2);
      for (const rtt of rtts) {
        expect(rtt).toBeGreaterThan(0);
        expect(rtt).toBeLessThan(1000);
      }
      ws.ping('from client');
      await vi.waitFor(() => expect(events).toEqual(['pong:true', 'pong:true', 'ping:from client']));
    });

    it("faye style: ping and pong listeners without hooks get the client's ping and the pong to ws.ping()", async () => {
      const events: string[] = [];
      const s = await serve([
        {
          path: '/listen',
          handlers: (ws) => {
            ws.on('ping', (data) => events.push(`ping:${data.toString()}`));
            ws.on('pong', (data) => events.push(`pong:${data.toString()}`));
            ws.on('message', () => {
              void ws.ping('from server').then(() => ws.send('ponged'));
            });
          },
        },
      ]);
      const ws = track(await openWs(s.url('/listen')));
      const inbox = messages(ws);
      ws.ping('from client');
      ws.send('go');
      expect((await inbox.next()).data.toString()).toBe('ponged');
      expect(events).toEqual(['ping:from client', 'pong:from server']);
    });

    it('a ping left pending when the client vanishes rejects, but never as an unhandled rejection', async () => {
      const unhandled: unknown[] = [];
      const onUnhandled = (reason: unknown): void => {
        unhandled.push(reason);
      };
      process.on('unhandledRejection', onUnhandled);
      let pending: Promise<number> | undefined;
      try {
        const s = await serve([
          {
            path: '/ping',
            handlers: {
              heartbeat: false,
              open(ws) {
                pending = ws.ping('never answered');
                void ws.ping();
              },
            },
          },
        ]);
        const raw = track(await RawClient.connect(s.port));
        raw.write(handshakeRequest('/ping'));
        await raw.until(() => raw.frames().filter((f) => f.opcode === Opcode.PING).length === 2);
        raw.destroy();
        await expect(pending).rejects.toThrow(/closed/);
        // The other ping's rejection must not surface as unhandled.
        await quietFor(50);
        expect(unhandled).toEqual([]);
      } finally {
        process.off('unhandledRejection', onUnhandled);
      }
    });
  });
}
