// Endpoint.handle on the default path (no async `upgrade` hook, the socket already taken): the
// handshake is over when handle() returns, with nothing left for a later turn.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createEndpoint } from '../src/index.js';
import type { Handlers } from '../src/index.js';
import { RawClient, closed, handshakeRequest, messages, openWs } from '../../../test/helpers.js';

const servers: http.Server[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

interface Seen {
  pending: number;
  open: number;
  status: Promise<number>;
}

async function start(handlers: Handlers<undefined>): Promise<{ port: number; seen: Seen[] }> {
  const endpoint = createEndpoint(handlers);
  const seen: Seen[] = [];
  const server = http.createServer((req, res) => {
    const status = endpoint.handle(req, res);
    // Read in the same turn as handle() returned.
    seen.push({ pending: endpoint.stats().handshakes.pending, open: endpoint.connections.size, status });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as AddressInfo).port, seen };
}

describe('Endpoint.handle without an async hook', () => {
  it('has opened the connection and given back its place under maxPendingHandshakes when it returns', async () => {
    const { port, seen } = await start({
      heartbeat: false,
      message(ws, data) {
        ws.send(data);
      },
    });
    // The first request of a server may still wait for its socket; every later one is taken at once.
    for (let i = 0; i < 3; i++) {
      const client = await openWs(`ws://127.0.0.1:${port}/ws`);
      const inbox = messages(client);
      client.send(`m${i}`);
      expect((await inbox.next()).data.toString()).toBe(`m${i}`);
      client.close();
      await closed(client);
    }
    expect(seen).toHaveLength(3);
    for (const one of seen.slice(1)) expect({ pending: one.pending, open: one.open }).toEqual({ pending: 0, open: 1 });
    for (const one of seen) expect(await one.status).toBe(101);
  });

  it('a refused handshake (a bad version) has its place back and resolves with its status', async () => {
    const { port, seen } = await start({ heartbeat: false });
    for (let i = 0; i < 2; i++) {
      const client = await RawClient.connect(port);
      client.write(handshakeRequest('/ws', { 'Sec-WebSocket-Version': i === 0 ? '13' : '99' }));
      const head = await client.response();
      expect(head.statusLine).toContain(i === 0 ? '101' : '426');
      client.destroy();
    }
    expect(seen).toHaveLength(2);
    expect(seen[1]!.pending).toBe(0);
    expect(await seen[1]!.status).toBe(426);
  });
});
