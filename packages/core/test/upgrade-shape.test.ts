// shapeUpgradeRequests (src/handshake/route-upgrades.ts): an adapter's framework properties,
// added to a routed upgrade's request and response before the server's 'request' listeners see
// them, on that server only, and never to a plain HTTP request.
import http from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createEndpoint, routeUpgrades } from '../src/index.js';
import { shapeUpgradeRequests } from '../src/internal.js';
import { RawClient, closed, handshakeRequest, messages, openWs } from '../../../test/helpers.js';

const servers: http.Server[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

interface Seen {
  upgrade: boolean;
  /** Own keys of the request and response as the 'request' listener first sees them. */
  req: string[];
  res: string[];
}

async function start(shaped: boolean): Promise<{ port: number; seen: Seen[]; shapes: number[] }> {
  const endpoint = createEndpoint<undefined>({
    heartbeat: false,
    message(ws, data) {
      ws.send(data);
    },
  });
  const seen: Seen[] = [];
  const shapes: number[] = [];
  const server = http.createServer((req, res) => {
    seen.push({
      upgrade: req.headers.upgrade === 'websocket',
      req: Object.keys(req).filter((key) => key.startsWith('shaped')),
      res: Object.keys(res).filter((key) => key.startsWith('shaped')),
    });
    if (req.headers.upgrade === 'websocket') void endpoint.handle(req, res);
    else res.end('plain');
  });
  routeUpgrades(server);
  if (shaped)
    shapeUpgradeRequests(server, (req: IncomingMessage, res: ServerResponse) => {
      shapes.push(seen.length);
      Object.assign(req, { shapedRequest: undefined });
      Object.assign(res, { shapedResponse: undefined });
    });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as AddressInfo).port, seen, shapes };
}

async function echo(port: number, text: string): Promise<string> {
  const client = await openWs(`ws://127.0.0.1:${port}/ws`);
  const inbox = messages(client);
  client.send(text);
  const answer = (await inbox.next()).data.toString();
  client.close();
  await closed(client);
  return answer;
}

describe('shapeUpgradeRequests', () => {
  it("shapes each routed upgrade before the server's request listeners run, and the handshake goes on", async () => {
    const { port, seen, shapes } = await start(true);
    for (let i = 0; i < 3; i++) expect(await echo(port, `m${i}`)).toBe(`m${i}`);
    // Called once per upgrade, each time before its 'request' listener.
    expect(shapes).toEqual([0, 1, 2]);
    for (const one of seen) expect(one).toEqual({ upgrade: true, req: ['shapedRequest'], res: ['shapedResponse'] });
  });

  it('leaves plain HTTP requests, and servers without a shape, as they are', async () => {
    const shaped = await start(true);
    const plain = await fetch(`http://127.0.0.1:${shaped.port}/page`);
    expect(await plain.text()).toBe('plain');
    expect(shaped.seen).toEqual([{ upgrade: false, req: [], res: [] }]);
    expect(shaped.shapes).toEqual([]);

    const unshaped = await start(false);
    expect(await echo(unshaped.port, 'x')).toBe('x');
    expect(unshaped.seen).toEqual([{ upgrade: true, req: [], res: [] }]);
  });

  it('a handshake refused by the endpoint after shaping is still answered with its status', async () => {
    const { port, shapes } = await start(true);
    // Hostile input: a bad Sec-WebSocket-Version on a routed upgrade.
    const client = await RawClient.connect(port);
    client.write(handshakeRequest('/ws', { 'Sec-WebSocket-Version': '12' }));
    expect((await client.response()).statusLine).toContain('426');
    client.destroy();
    expect(shapes).toEqual([0]);
  });
});
