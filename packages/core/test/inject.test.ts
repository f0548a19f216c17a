import http from 'node:http';
import https from 'node:https';
import { once } from 'node:events';
import { describe, expect, it, vi } from 'vitest';
import { createEndpoint, injectWebSocket } from '../src/index.js';
import type { CloseEvent } from '../src/index.js';
import { selfSignedCert } from '../../../test/helpers.js';

describe('injectWebSocket', () => {
  it('a terminate()d client closes on the server at once, as a TCP client would (1006)', async () => {
    const closes: CloseEvent[] = [];
    const endpoint = createEndpoint({
      open(ws) {
        ws.send('hi');
      },
      close(_ws, event) {
        closes.push(event);
      },
    });
    const server = http.createServer((req, res) => {
      void endpoint.handle(req, res);
    });
    const ws = await injectWebSocket(server, '/');
    await once(ws, 'message');
    ws.terminate();
    await vi.waitFor(() => expect(closes.map((c) => c.code)).toEqual([1006]), { timeout: 1000 });
    expect(endpoint.connections.size).toBe(0);
  });

  it('an HTTPS server gets the stream as an already secure connection (as a plain one it would wait for a TLS hello): the socket opens', async () => {
    const endpoint = createEndpoint({
      open(ws) {
        ws.send('hi');
      },
    });
    const server = https.createServer(await selfSignedCert(), (req, res) => {
      void endpoint.handle(req, res);
    });
    const ws = await injectWebSocket(server, '/');
    const [data] = await once(ws, 'message');
    expect(String(data)).toBe('hi');
    ws.terminate();
  });
});
