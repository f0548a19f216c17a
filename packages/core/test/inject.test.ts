import http from 'node:http';
import { once } from 'node:events';
import { describe, expect, it, vi } from 'vitest';
import { createEndpoint, injectWebSocket } from '../src/index.js';
import type { CloseEvent } from '../src/index.js';

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
});
