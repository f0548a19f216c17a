/**
 * A fallback session driven by hand over raw sockets (docs/fallback-protocol.md): the stream's
 * GET on a socket of its own, its events parsed as they come, and POSTs made on request, so that a
 * test decides when (and whether) the client answers a ping, acknowledges, or goes silent.
 */
import net from 'node:net';

/** One event of the stream. */
export interface RawEvent {
  id: number | undefined;
  type: string;
  data: string;
  /** performance.now() when it was read. */
  at: number;
}

/** A session whose stream is open on `socket`. */
export interface RawSession {
  readonly socket: net.Socket;
  readonly id: string;
  readonly events: RawEvent[];
  /** Called with every event after `open`. */
  onEvent: ((event: RawEvent) => void) | undefined;
  /** The next frame index to POST. */
  seq: number;
  /** The last event id read. */
  lastId: number;
  /** True once the stream ended. */
  ended: boolean;
}

/**
 * Opens a session on `path` of 127.0.0.1:`port`; resolves once its `open` event came. `onEvent`
 * sees every later event, even one in the same read as `open` (a first ping may come at once).
 */
export function openRawSession(
  port: number,
  path: string,
  headers: Record<string, string> = {},
  onEvent?: (session: RawSession, event: RawEvent) => void,
): Promise<RawSession> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const extra = Object.entries(headers)
      .map(([name, value]) => `${name}: ${value}\r\n`)
      .join('');
    socket.on('connect', () =>
      socket.write(
        `GET ${path}${path.includes('?') ? '&' : '?'}__sy=sse HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAccept: text/event-stream\r\n${extra}\r\n`,
      ),
    );
    socket.once('error', reject);
    socket.on('error', () => {});
    let text = '';
    let head = true;
    let session: RawSession | undefined;
    socket.on('close', () => {
      if (session) session.ended = true;
      else reject(new Error(`stream closed before open: ${text.slice(0, 200)}`));
    });
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString('latin1');
      if (head) {
        const end = text.indexOf('\r\n\r\n');
        if (end === -1) return;
        if (!text.startsWith('HTTP/1.1 200')) return reject(new Error(text.slice(0, 200)));
        // Chunked encoding: the chunk-size lines are dropped below, with the blank lines.
        text = text.slice(end + 4);
        head = false;
      }
      const blocks = text.split('\n\n');
      text = blocks.pop()!;
      for (const block of blocks) {
        const lines = block.split(/\r?\n/).filter((line) => !/^[0-9a-f]+\r?$/i.test(line) && line !== '');
        let id: number | undefined;
        let type = 'message';
        let data = '';
        for (const line of lines) {
          if (line.startsWith('id: ')) id = Number(line.slice(4));
          else if (line.startsWith('event: ')) type = line.slice(7);
          else if (line.startsWith('data: ')) data = line.slice(6);
        }
        if (!lines.some((line) => line.startsWith('data: '))) continue;
        const event: RawEvent = { id, type, data, at: performance.now() };
        if (type === 'open') {
          session = {
            socket,
            id: (JSON.parse(data) as { session: string }).session,
            events: [],
            onEvent: undefined,
            seq: 0,
            lastId: 0,
            ended: false,
          };
          if (onEvent) {
            const created = session;
            session.onEvent = (later) => onEvent(created, later);
          }
          resolve(session);
          continue;
        }
        if (!session) continue;
        if (id !== undefined) session.lastId = id;
        session.events.push(event);
        session.onEvent?.(event);
      }
    });
  });
}

/**
 * POSTs `frames` (and an acknowledgement of everything read) for `session`, on a connection of its
 * own that closes after the answer (`Connection: close`, the costliest way). Resolves with the
 * status.
 */
export function postRaw(
  port: number,
  path: string,
  session: RawSession,
  frames: unknown[],
  headers: Record<string, string> = {},
): Promise<number> {
  const body = Buffer.from(JSON.stringify({ seq: session.seq, frames, ack: session.lastId }));
  session.seq += frames.length;
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    const extra = Object.entries(headers)
      .map(([name, value]) => `${name}: ${value}\r\n`)
      .join('');
    socket.on('connect', () =>
      socket.end(
        Buffer.concat([
          Buffer.from(
            `POST ${path}${path.includes('?') ? '&' : '?'}__sy=post HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n` +
              `Switchyard-Session: ${session.id}\r\nContent-Type: text/plain;charset=UTF-8\r\n${extra}` +
              `Content-Length: ${body.length}\r\nConnection: close\r\n\r\n`,
            'latin1',
          ),
          body,
        ]),
      ),
    );
    let answer = '';
    socket.on('data', (chunk: Buffer) => {
      answer += chunk.toString('latin1');
    });
    socket.on('error', () => resolve(0));
    socket.on('close', () => resolve(Number(answer.slice(9, 12)) || 0));
  });
}

/** Answers every ping of `session` with a pong POST after `delay` ms (0: at once). */
export function answerPings(port: number, path: string, session: RawSession, delay = 0): void {
  session.onEvent = (event) => {
    if (event.type !== 'ping') return;
    const pong = (): void => void postRaw(port, path, session, [['pong', event.data]]);
    if (delay > 0) setTimeout(pong, delay);
    else pong();
  };
}
