declare module 'faye-websocket' {
  import type { EventEmitter } from 'node:events';
  class Client extends EventEmitter {
    constructor(
      url: string,
      protocols?: string[] | null,
      options?: {
        ping?: number;
        headers?: Record<string, string>;
        extensions?: unknown[];
        tls?: Record<string, unknown>;
      },
    );
    readonly protocol: string;
    readonly readyState: number;
    send(data: string | Buffer): boolean;
    ping(message?: string, callback?: () => void): boolean;
    close(code?: number, reason?: string): void;
  }
  const Faye: { Client: typeof Client };
  export default Faye;
}
