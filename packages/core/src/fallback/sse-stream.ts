/**
 * The Server-Sent Events wire: the response head of a stream, the text of its events and
 * comments, and ending a stream without letting a reader that stopped reading hold it open.
 */
import type { ServerResponse } from 'node:http';

/**
 * How long a closed session's stream may take to flush its last events before its socket is
 * destroyed. A slow consumer's stream (1008 with its buffer backed up) is destroyed at once: its
 * reader is the problem.
 */
export const STREAM_CLOSE_TIMEOUT = 5000;

/** An SSE comment: keeps proxies from cutting an idle stream; no id, not replayed. */
export const SSE_COMMENT = ':\n\n';

/** Writes the head of an event stream on `res`. */
export function writeStreamHead(res: ServerResponse): void {
  res.writeHead(200, {
    'Content-Type': 'text/event-stream; charset=utf-8',
    'Cache-Control': 'no-cache, no-transform',
    // nginx and some CDNs buffer responses unless told not to.
    'X-Accel-Buffering': 'no',
  });
}

/** The `retry:` field: how long the browser waits before reconnecting a dropped stream (ms). */
export function encodeRetry(retry: number): string {
  return `retry: ${retry}\n\n`;
}

/** The text of one event; `event` '' is a plain message, `id` undefined an event not replayed. */
export function encodeEvent(id: number | undefined, event: string, data: string): string {
  return `${id === undefined ? '' : `id: ${id}\n`}${event ? `event: ${event}\n` : ''}data: ${data}\n\n`;
}

/**
 * Ends a stream, and destroys it if its data has not gone out within `timeout` ms: a reader
 * that stopped reading would otherwise hold the response, its socket and everything buffered
 * for as long as its TCP connection lives. 0 destroys it at once.
 */
export function endStreamWithin(stream: ServerResponse, timeout: number): void {
  if (timeout === 0) {
    stream.destroy();
    return;
  }
  stream.end();
  if (stream.writableFinished) return;
  const timer = setTimeout(giveUp, timeout, stream).unref();
  stream.once('finish', () => clearTimeout(timer));
  stream.once('close', () => clearTimeout(timer));
}

function giveUp(stream: ServerResponse): void {
  if (!stream.writableFinished) stream.destroy();
}
