/**
 * A TCP proxy between one app node and Redis that can hold the node's traffic without cutting
 * it, as a congested or partitioned network does: the connections stay open, bytes wait, and
 * everything arrives once the stall ends. The node never sees an error, only a reader that falls
 * behind. Redis can be killed and restarted behind it (a new connection per accept).
 */
import net from 'node:net';
import { once } from 'node:events';

/** Which of the node's Redis connections a stall holds. */
export type StallTarget = 'all' | 'reader';

interface Link {
  client: net.Socket;
  upstream: net.Socket;
  /** The connection that sent an XREAD: the hub's stream reader. */
  reader: boolean;
}

export class StallProxy {
  readonly #server: net.Server;
  readonly #links = new Set<Link>();
  #stalled: StallTarget | undefined;

  private constructor(readonly target: number) {
    this.#server = net.createServer((client) => this.#accept(client));
  }

  /** A proxy on a free port of 127.0.0.1 in front of `127.0.0.1:target`. */
  static async start(target: number): Promise<StallProxy> {
    const proxy = new StallProxy(target);
    proxy.#server.listen(0, '127.0.0.1');
    await once(proxy.#server, 'listening');
    return proxy;
  }

  get url(): string {
    return `redis://127.0.0.1:${(this.#server.address() as net.AddressInfo).port}`;
  }

  /**
   * Holds traffic until `release()`: of every connection (both ways), or only what Redis sends
   * the stream reader (its XREAD replies wait; the node's other commands go through).
   */
  stall(target: StallTarget = 'all'): void {
    this.#stalled = target;
    for (const link of this.#links) this.#apply(link);
  }

  release(): void {
    this.#stalled = undefined;
    for (const link of this.#links) this.#apply(link);
  }

  async close(): Promise<void> {
    for (const link of this.#links) {
      link.client.destroy();
      link.upstream.destroy();
    }
    await new Promise((resolve) => this.#server.close(resolve));
  }

  #apply(link: Link): void {
    const held = this.#stalled === 'all' || (this.#stalled === 'reader' && link.reader);
    // A paused socket is not read: its bytes wait in the kernel, then in the peer, as on a congested link.
    if (held) link.upstream.pause();
    else link.upstream.resume();
    if (this.#stalled === 'all') link.client.pause();
    else link.client.resume();
  }

  #accept(client: net.Socket): void {
    const upstream = net.connect(this.target, '127.0.0.1');
    const link: Link = { client, upstream, reader: false };
    this.#links.add(link);
    const drop = (): void => {
      client.destroy();
      upstream.destroy();
      this.#links.delete(link);
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    client.on('data', (chunk: Buffer) => {
      if (!link.reader && chunk.includes('XREAD')) {
        link.reader = true;
        this.#apply(link);
      }
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => client.write(chunk));
    this.#apply(link);
  }
}
