/**
 * A TCP proxy in front of a test server that breaks WebSockets the way real networks do:
 *
 *   'pass'            every byte, both ways;
 *   'refuse-upgrade'  answers a WebSocket handshake with 400 itself, as a proxy that doesn't
 *                     speak WebSocket does; every other request passes;
 *   'drop-after-101'  forwards the handshake and the server's 101, then drops every byte in both
 *                     directions on that connection, as some antivirus and security proxies do;
 *                     every other request passes.
 *
 * It reads request heads (and skips Content-Length bodies) on every kept-alive connection, so it
 * sees each request, not only a connection's first. Tests can cut connections (say the SSE
 * stream's) and make a request's response vanish after the server has handled it.
 */
import net from 'node:net';
import { once } from 'node:events';

export type ProxyMode = 'pass' | 'refuse-upgrade' | 'drop-after-101';

/** One request seen by the proxy. */
export interface ProxiedRequest {
  method: string;
  /** The request target: path and query. */
  target: string;
  /** Header names in lower case. */
  headers: Record<string, string>;
  /** A Content-Length body as it passed, one latin1 character per byte. */
  body: string;
}

/** One client connection and its link to the server. */
interface Link {
  client: net.Socket;
  upstream: net.Socket;
  /** The requests sent on this connection, oldest first. */
  requests: ProxiedRequest[];
}

const HEAD_END = '\r\n\r\n';

function parseRequestHead(text: string): ProxiedRequest {
  const [line = '', ...lines] = text.split('\r\n');
  const [method = '', target = ''] = line.split(' ');
  const headers: Record<string, string> = {};
  for (const header of lines) {
    const colon = header.indexOf(':');
    if (colon > 0) headers[header.slice(0, colon).trim().toLowerCase()] = header.slice(colon + 1).trim();
  }
  return { method, target, headers, body: '' };
}

const isUpgrade = (request: ProxiedRequest): boolean => /websocket/i.test(request.headers.upgrade ?? '');

const REFUSAL_BODY = 'This proxy does not pass WebSockets';
const REFUSAL = `HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: ${REFUSAL_BODY.length}\r\nConnection: close\r\n\r\n${REFUSAL_BODY}`;

export class TcpProxy {
  readonly mode: ProxyMode;
  /** Every request that went through, in arrival order (refused handshakes included). */
  readonly requests: ProxiedRequest[] = [];
  #target: number;
  readonly #server: net.Server;
  readonly #links = new Set<Link>();
  #vanish: ((request: ProxiedRequest) => boolean) | undefined;
  #blocked = false;

  private constructor(target: number, mode: ProxyMode) {
    this.#target = target;
    this.mode = mode;
    this.#server = net.createServer((client) => this.#accept(client));
  }

  /** A proxy on a free port of 127.0.0.1 in front of `127.0.0.1:target`. */
  static async start(target: number, mode: ProxyMode): Promise<TcpProxy> {
    const proxy = new TcpProxy(target, mode);
    proxy.#server.listen(0, '127.0.0.1');
    await once(proxy.#server, 'listening');
    return proxy;
  }

  get port(): number {
    return (this.#server.address() as net.AddressInfo).port;
  }

  /** `http://127.0.0.1:<proxy port><path>`. */
  url(path: string): string {
    return `http://127.0.0.1:${this.port}${path}`;
  }

  /** While blocked, new connections are dropped as they arrive, as a network that is down. */
  block(blocked: boolean): void {
    this.#blocked = blocked;
  }

  /** New connections go to another server from now on. */
  retarget(port: number): void {
    this.#target = port;
  }

  /** Destroys the connections whose latest request matches, as a dropped network would. Returns how many. */
  cut(match: (request: ProxiedRequest) => boolean = () => true): number {
    let count = 0;
    for (const link of this.#links) {
      const latest = link.requests.at(-1);
      if (latest && match(latest)) {
        link.client.destroy();
        link.upstream.destroy();
        count++;
      }
    }
    return count;
  }

  /**
   * The next request that matches reaches the server, but its response never reaches the
   * client: the proxy destroys the client's connection when the response starts.
   */
  vanishNextResponse(match: (request: ProxiedRequest) => boolean): void {
    this.#vanish = match;
  }

  async close(): Promise<void> {
    for (const link of this.#links) {
      link.client.destroy();
      link.upstream.destroy();
    }
    await new Promise((resolve) => this.#server.close(resolve));
  }

  #accept(client: net.Socket): void {
    if (this.#blocked) {
      client.destroy();
      return;
    }
    const upstream = net.connect(this.#target, '127.0.0.1');
    const link: Link = { client, upstream, requests: [] };
    this.#links.add(link);
    const drop = (): void => {
      client.destroy();
      upstream.destroy();
      this.#links.delete(link);
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    client.setNoDelay(true);
    upstream.setNoDelay(true);

    /** Client to server: 'head' reads a request head, 'body' skips `remaining` body bytes. */
    let inbound: 'head' | 'body' | 'raw' | 'drop' = 'head';
    let remaining = 0;
    let pending = Buffer.alloc(0);
    /** Server to client: 'await-101' reads the answer to a handshake that may be black-holed. */
    let outbound: 'raw' | 'await-101' | 'drop' = 'raw';
    let answer = Buffer.alloc(0);
    let vanishing = false;

    client.on('data', (chunk: Buffer) => {
      let data = chunk;
      while (data.length > 0) {
        if (inbound === 'drop') return;
        if (inbound === 'raw') {
          upstream.write(data);
          return;
        }
        if (inbound === 'body') {
          const part = data.subarray(0, remaining);
          upstream.write(part);
          link.requests.at(-1)!.body += part.toString('latin1');
          remaining -= part.length;
          data = data.subarray(part.length);
          if (remaining === 0) inbound = 'head';
          continue;
        }
        pending = Buffer.concat([pending, data]);
        const end = pending.indexOf(HEAD_END);
        if (end === -1) return;
        const head = pending.subarray(0, end + HEAD_END.length);
        data = pending.subarray(end + HEAD_END.length);
        pending = Buffer.alloc(0);
        const request = parseRequestHead(head.toString('latin1'));
        this.requests.push(request);
        link.requests.push(request);
        if (this.#vanish?.(request)) {
          this.#vanish = undefined;
          vanishing = true;
        }
        if (isUpgrade(request)) {
          if (this.mode === 'refuse-upgrade') {
            client.end(REFUSAL);
            upstream.destroy();
            inbound = 'drop';
            return;
          }
          if (this.mode === 'drop-after-101') outbound = 'await-101';
          upstream.write(head);
          // After a handshake come frames (or nothing, if the server refuses it).
          inbound = 'raw';
          continue;
        }
        upstream.write(head);
        if (/chunked/i.test(request.headers['transfer-encoding'] ?? '')) {
          // Not needed by these tests; stop reading heads on this connection.
          inbound = 'raw';
          continue;
        }
        remaining = Number(request.headers['content-length'] ?? 0);
        if (remaining > 0) inbound = 'body';
      }
    });

    upstream.on('data', (chunk: Buffer) => {
      if (vanishing) {
        client.destroy();
        upstream.destroy();
        return;
      }
      if (outbound === 'drop') return;
      if (outbound === 'raw') {
        client.write(chunk);
        return;
      }
      answer = Buffer.concat([answer, chunk]);
      const end = answer.indexOf(HEAD_END);
      if (end === -1) return;
      const head = answer.subarray(0, end + HEAD_END.length);
      client.write(head);
      if (head.toString('latin1').startsWith('HTTP/1.1 101')) {
        // The handshake went through; from here on the proxy swallows everything, the frames
        // that came in this same chunk included.
        outbound = 'drop';
        inbound = 'drop';
        return;
      }
      client.write(answer.subarray(end + HEAD_END.length));
      outbound = 'raw';
    });
  }
}
