/**
 * The fallback's plain HTTP answers (not a handshake's): a status, a line of text and headers,
 * and writing them on a response that may already be gone.
 */
import type { ServerResponse } from 'node:http';

/** An HTTP answer that is not a handshake's: a status, a line of text and headers. */
export interface HttpAnswer {
  readonly status: number;
  readonly message: string;
  readonly headers: Readonly<Record<string, string | number | readonly string[]>>;
}

/** Builds an {@link HttpAnswer}. */
export function answer(status: number, message: string, headers: HttpAnswer['headers'] = {}): HttpAnswer {
  return { status, message, headers };
}

/** Answers an ordinary HTTP request (the fallback's) with a status and a line of text. */
export function respond(res: ServerResponse, reply: HttpAnswer): number {
  if (res.headersSent || res.destroyed) {
    res.destroy();
    return reply.status;
  }
  const body = `${reply.message}\n`;
  res.writeHead(reply.status, {
    ...reply.headers,
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': Buffer.byteLength(body),
  });
  res.end(body);
  return reply.status;
}

/** Answers with a status and no body (a POST's 204 or 202). */
export function respondEmpty(res: ServerResponse, status: number): number {
  res.writeHead(status);
  res.end();
  return status;
}
