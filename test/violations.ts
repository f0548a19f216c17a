/**
 * Closes the server starts, and how a raw client provokes each: the protocol violations `ws`
 * detects (1002, 1007, 1008, 1009) and the ones switchyard closes for itself (1007 past
 * `maxDepth`, 1008 past `controlRate`, 1011 for a failing hook). The observability and otel
 * suites check that each one is reported as closed by the server, on an endpoint with a `schema`
 * that takes any JSON.
 */
import { CloseCode } from '@switchyard/core';
import type { Handlers } from '@switchyard/core';
import { z } from 'zod';
import { Opcode, RawClient, closeCodeOf, closeFrame, frame, handshakeRequest } from './helpers.js';

/** The `maxPayload` an endpoint must set for the 1009 case. */
export const VIOLATION_MAX_PAYLOAD = 64;

/** The `maxDepth` an endpoint must set for the nesting case (its message must fit `maxPayload`). */
export const VIOLATION_MAX_DEPTH = 4;

/** What a message hook does with the JSON string `"throw"`: the 1011 case needs it to throw. */
export const THROW_TEXT = 'throw';

/** The handlers of an endpoint on which every violation below can be provoked. */
export function strictHandlers(): Handlers<undefined, z.ZodUnknown> {
  return {
    heartbeat: false,
    maxPayload: VIOLATION_MAX_PAYLOAD,
    schema: z.unknown(),
    maxDepth: VIOLATION_MAX_DEPTH,
    message(_ws, data) {
      if (data === THROW_TEXT) throw new Error('handler failed');
    },
    error() {},
  };
}

export interface Violation {
  /** The close code the server must send. */
  code: number;
  /** What the client does wrong, for test names and the `?case=` query. */
  name: string;
  /** The bytes the client sends after the 101. */
  bytes(): Buffer;
}

export const violations: readonly Violation[] = [
  { code: CloseCode.PROTOCOL_ERROR, name: 'reserved-opcode', bytes: () => frame(3, 'x') },
  { code: CloseCode.PROTOCOL_ERROR, name: 'unmasked', bytes: () => frame(Opcode.TEXT, 'x', { mask: false }) },
  { code: CloseCode.INVALID_PAYLOAD, name: 'bad-utf8', bytes: () => frame(Opcode.TEXT, Buffer.from([0xff, 0xfe])) },
  {
    code: CloseCode.MESSAGE_TOO_BIG,
    name: 'too-big',
    bytes: () => frame(Opcode.BINARY, Buffer.alloc(VIOLATION_MAX_PAYLOAD + 1)),
  },
  {
    // ws's maxFragments (16,384): one more empty fragment than a message may have.
    code: CloseCode.POLICY_VIOLATION,
    name: 'too-many-fragments',
    bytes: () =>
      Buffer.concat([
        frame(Opcode.TEXT, '', { fin: false }),
        ...Array.from({ length: 16_384 }, () => frame(Opcode.CONTINUATION, '', { fin: false })),
      ]),
  },
  {
    code: CloseCode.INVALID_PAYLOAD,
    name: 'nested-too-deep',
    bytes: () => frame(Opcode.TEXT, `${'['.repeat(VIOLATION_MAX_DEPTH + 1)}${']'.repeat(VIOLATION_MAX_DEPTH + 1)}`),
  },
  {
    // The default controlRate: bursts of 50.
    code: CloseCode.POLICY_VIOLATION,
    name: 'ping-flood',
    bytes: () => Buffer.concat(Array.from({ length: 80 }, () => frame(Opcode.PING, 'p'))),
  },
  {
    code: CloseCode.INTERNAL_ERROR,
    name: 'handler-throws',
    bytes: () => frame(Opcode.TEXT, JSON.stringify(THROW_TEXT)),
  },
];

/**
 * Opens a raw connection to `path?case=<name>`, sends the violation and returns the close code
 * the server sent.
 */
export async function provoke(port: number, path: string, violation: Violation): Promise<number | undefined> {
  const client = await RawClient.connect(port);
  try {
    client.write(handshakeRequest(`${path}?case=${violation.name}`));
    await client.response();
    client.write(violation.bytes());
    await client.until(() => client.frames().some((f) => f.opcode === Opcode.CLOSE), 5000);
    const code = closeCodeOf(client.frames().find((f) => f.opcode === Opcode.CLOSE));
    // Answered, so that a close the server waits on (1011) ends cleanly with its own code.
    if (!client.closed) client.write(closeFrame(code ?? CloseCode.NORMAL));
    await client.waitClosed(5000);
    return code;
  } finally {
    client.destroy();
  }
}
