/**
 * A server whose every answer a test scripts: a `ws` WebSocket server that sends the liveness
 * frame when asked to, and an HTTP server for the SSE stream and the POSTs. It checks the client
 * against docs/fallback-protocol.md independently of @switchyard/core.
 */
import http from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { once } from 'node:events';
import { afterEach } from 'vitest';
import { WebSocketServer } from 'ws';
import type { WebSocket } from 'ws';

export const LIVENESS_FRAME = '\u0000sy:open';

/** One request the HTTP side received. */
export interface Received {
  method: string;
  url: URL;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export type StreamScript = (res: ServerResponse, request: Received, index: number) => void;
export type PostScript = (
  request: Received,
  index: number,
) => number | { status: number; headers: Record<string, string> };

export class ScriptedServer {
  readonly requests: Received[] = [];
  /** WebSocket connections in order, with what each received. */
  readonly connections: Array<{ ws: WebSocket; url: string; received: string[] }> = [];
  /** Whether the WebSocket side answers `__sy=1` with the liveness frame. */
  liveness = true;
  /** Answers to WebSocket handshakes, refused ones included: undefined accepts, a status refuses. */
  handshake: (url: string, index: number) => { status: number; headers?: Record<string, string> } | undefined = () =>
    undefined;
  /** Every WebSocket handshake, refused ones included, with when it arrived (Date.now()). */
  readonly handshakes: Array<{ url: string; at: number }> = [];
  /** Called with each accepted WebSocket, after the liveness frame. */
  onConnection: (ws: WebSocket, index: number) => void = () => {};
  /** Answers to SSE GETs; the default opens session "s1" with `retry: 50`. */
  stream: StreamScript = (res) => openStream(res, 'retry: 50\n\nevent: open\ndata: {"session":"s1","protocol":""}\n\n');
  /** Status (and headers) for POSTs; the default is 204. */
  post: PostScript = () => 204;
  /** Open SSE responses. */
  readonly streams = new Set<ServerResponse>();
  readonly #server: http.Server;
  readonly #wss: WebSocketServer;
  readonly #sockets = new Set<Socket>();

  private constructor() {
    this.#server = http.createServer((req, res) => void this.#answer(req, res));
    this.#server.on('connection', (socket: Socket) => {
      this.#sockets.add(socket);
      socket.once('close', () => this.#sockets.delete(socket));
    });
    this.#wss = new WebSocketServer({
      server: this.#server,
      handleProtocols: (protocols) => [...protocols][0] ?? false,
      verifyClient: ({ req }, accept) => {
        this.handshakes.push({ url: req.url ?? '', at: Date.now() });
        const refusal = this.handshake(req.url ?? '', this.handshakes.length - 1);
        if (refusal) accept(false, refusal.status, 'Refused', refusal.headers);
        else accept(true);
      },
    });
    this.#wss.on('connection', (ws, req) => {
      const record = { ws, url: req.url ?? '', received: [] as string[] };
      this.connections.push(record);
      if (this.liveness && record.url.includes('__sy=1')) ws.send(LIVENESS_FRAME);
      ws.on('message', (data, isBinary) =>
        record.received.push(isBinary ? `bytes:${[...(data as Buffer)].join(',')}` : data.toString()),
      );
      this.onConnection(ws, this.connections.length - 1);
    });
  }

  /** A server on a free port, closed after the test. */
  static async start(): Promise<ScriptedServer> {
    const server = new ScriptedServer();
    server.#server.listen(0, '127.0.0.1');
    await once(server.#server, 'listening');
    afterEach(() => server.close());
    return server;
  }

  get port(): number {
    return (this.#server.address() as AddressInfo).port;
  }

  url(path = '/ep'): string {
    return `http://127.0.0.1:${this.port}${path}`;
  }

  streamRequests(): Received[] {
    return this.requests.filter((r) => r.method === 'GET');
  }

  posts(): Array<Received & { json: { seq: number; frames: unknown[] } }> {
    return this.requests
      .filter((r) => r.method === 'POST')
      .map((r) => ({ ...r, json: JSON.parse(r.body) as { seq: number; frames: unknown[] } }));
  }

  /** Every frame the POSTs carried, each once even if its POST was retried. */
  frames(): unknown[] {
    const frames: unknown[] = [];
    for (const { json } of this.posts())
      json.frames.forEach((frame, i) => {
        frames[json.seq + i] = frame;
      });
    return frames;
  }

  /**
   * A crash: every socket dropped at once (the clients see 1006) and the port closed, so that
   * attempts are refused until {@link listenAgain}.
   */
  async crash(): Promise<void> {
    const port = this.port;
    await this.close();
    this.#crashedPort = port;
  }

  /** Listens again on the port of the crash. */
  async listenAgain(): Promise<void> {
    this.#server.listen(this.#crashedPort, '127.0.0.1');
    await once(this.#server, 'listening');
  }

  #crashedPort = 0;

  async close(): Promise<void> {
    for (const client of this.#wss.clients) client.terminate();
    for (const socket of this.#sockets) socket.destroy();
    await new Promise((resolve) => this.#server.close(resolve));
  }

  async #answer(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let body = '';
    for await (const chunk of req) body += String(chunk);
    const request: Received = {
      method: req.method ?? '',
      url: new URL(req.url ?? '/', 'http://x'),
      headers: req.headers,
      body,
    };
    this.requests.push(request);
    if (req.method === 'GET') {
      this.streams.add(res);
      res.once('close', () => this.streams.delete(res));
      this.stream(res, request, this.streamRequests().length - 1);
    } else {
      const answer = this.post(request, this.posts().length - 1);
      if (typeof answer === 'number') res.writeHead(answer).end();
      else res.writeHead(answer.status, answer.headers).end();
    }
  }
}

/** Starts an SSE response and writes `text`. */
export function openStream(res: ServerResponse, text = ''): void {
  res.writeHead(200, { 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-cache' });
  res.write(text);
}
