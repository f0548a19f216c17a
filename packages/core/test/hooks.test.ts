// Hook dispatch and the error policy (src/endpoint/hooks.ts), through a core endpoint on a bare
// node:http server and real ws clients over 127.0.0.1: what a failing handler costs (its own
// connection, 1011, one report), the order of hook, listeners and `for await`, and rate limits.
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { WebSocket } from 'ws';
import type { Connection } from '../src/connection/connection.js';
import { createEndpoint } from '../src/endpoint/endpoint.js';
import { isThenable } from '../src/endpoint/hooks-errors.js';
import type { EndpointOptions, Handlers } from '../src/endpoint/options-types.js';

const servers: Server[] = [];
const clients: WebSocket[] = [];
afterEach(async () => {
  for (const client of clients.splice(0)) client.terminate();
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
  vi.restoreAllMocks();
});

async function serve(handlers: Handlers<any>, options: EndpointOptions = {}): Promise<number> {
  const endpoint = createEndpoint(handlers, options);
  const server = createServer((req, res) => void endpoint.handle(req, res));
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

async function connect(port: number): Promise<WebSocket> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/`);
  clients.push(ws);
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  return ws;
}

function closeOf(ws: WebSocket): Promise<[number, string]> {
  return new Promise((resolve) =>
    ws.once('close', (code: number, reason: Buffer) => resolve([code, reason.toString()])),
  );
}

describe('hooks: the error policy', () => {
  it.each([
    [
      'throws',
      () => {
        throw new Error('boom');
      },
    ],
    [
      'rejects',
      async () => {
        throw new Error('boom');
      },
    ],
  ])(
    'a message handler that %s closes only its own connection with 1011 and is reported once',
    async (_name, message) => {
      const errors: Array<[Connection | undefined, Error]> = [];
      const port = await serve({ message, error: (ws, error) => void errors.push([ws, error]) });
      const failing = await connect(port);
      const bystander = await connect(port);
      const closed = closeOf(failing);
      failing.send('x');
      expect(await closed).toEqual([1011, 'Internal error']);
      expect(errors).toHaveLength(1);
      expect(errors[0]![1].message).toBe('boom');
      expect(bystander.readyState).toBe(WebSocket.OPEN);
    },
  );

  it('logs a failure once when there is no error hook, and when the error hook itself fails', async () => {
    const log = vi.spyOn(console, 'error').mockImplementation(() => {});
    const port = await serve({
      message() {
        throw new Error('first');
      },
      error() {
        throw new Error('second');
      },
    });
    const ws = await connect(port);
    const closed = closeOf(ws);
    ws.send('x');
    await closed;
    await vi.waitFor(() => expect(log).toHaveBeenCalledTimes(1));
    expect(String(log.mock.calls[0]![1])).toContain('second');
  });

  it('a close handler that rejects is reported, and nothing is closed twice', async () => {
    const reported = vi.fn();
    const port = await serve({
      close: async () => {
        throw new Error('late');
      },
      error: (_ws, error) => reported(error.message),
    });
    const ws = await connect(port);
    ws.close(1000);
    await vi.waitFor(() => expect(reported).toHaveBeenCalledWith('late'));
  });
});

describe('hooks: who hears a message', () => {
  it('the hook first, then on() listeners, in arrival order', async () => {
    const heard: string[] = [];
    const port = await serve({
      open(ws) {
        ws.on('message', (data) => void heard.push(`listener:${String(data)}`));
      },
      message(_ws, data) {
        heard.push(`hook:${String(data)}`);
      },
    });
    const ws = await connect(port);
    ws.send('a');
    ws.send('b');
    await vi.waitFor(() => expect(heard).toEqual(['hook:a', 'listener:a', 'hook:b', 'listener:b']));
  });

  it('messages that arrive while an async open runs wait for it, in order', async () => {
    const heard: string[] = [];
    let release!: () => void;
    const opened = new Promise<void>((resolve) => {
      release = resolve;
    });
    const port = await serve({
      open: () => opened,
      message(_ws, data) {
        heard.push(String(data));
      },
    });
    const ws = await connect(port);
    for (const text of ['1', '2', '3']) ws.send(text);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(heard).toEqual([]);
    release();
    await vi.waitFor(() => expect(heard).toEqual(['1', '2', '3']));
  });

  it('over rateLimit, a message goes to `limited` when there is one, and closes with 1008 when not', async () => {
    const limited = vi.fn();
    const portLimited = await serve(
      { message() {}, limited: (_ws, data) => limited(String(data)) },
      { rateLimit: { messages: 1, per: 60_000 } },
    );
    const a = await connect(portLimited);
    a.send('kept');
    a.send('dropped');
    await vi.waitFor(() => expect(limited).toHaveBeenCalledWith('dropped'));
    expect(a.readyState).toBe(WebSocket.OPEN);
    const portClosing = await serve({ message() {} }, { rateLimit: { messages: 1, per: 60_000 } });
    const b = await connect(portClosing);
    const closed = closeOf(b);
    b.send('kept');
    b.send('over');
    expect(await closed).toEqual([1008, 'Rate limit exceeded']);
  });
});

describe('isThenable', () => {
  it.each([
    [Promise.resolve(1), true],
    // biome-ignore lint/suspicious/noThenProperty: thenables are what this tests
    [{ then() {} }, true],
    // biome-ignore lint/suspicious/noThenProperty: a then that is not a function
    [{ then: 1 }, false],
    [null, false],
    [undefined, false],
    [() => {}, false],
    ['then', false],
  ])('%o is %s', (value, expected) => {
    expect(isThenable(value)).toBe(expected);
  });
});
