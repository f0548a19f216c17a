/**
 * What a line typed at the `connect` prompt means. Pure: turning a line into an action here,
 * carrying it out in `connect.ts`.
 */
import { isSendableCloseCode } from '@switchyard/core';

/** What a typed line asks for. */
export type Action =
  | { kind: 'text'; text: string }
  | { kind: 'binary'; data: Buffer }
  | { kind: 'ping'; data: Buffer | undefined }
  | { kind: 'close'; code: number; reason: string }
  | { kind: 'quit' }
  | { kind: 'help' }
  | { kind: 'nothing' }
  | { kind: 'invalid'; message: string };

/** The prompt's commands, for `/help` and `connect --help`. */
export const COMMANDS_HELP = [
  '/ping [data]            send a ping and print the round-trip time',
  '/close [code] [reason]  start the closing handshake (code 1000 unless given)',
  '/binary <hex>           send a binary message, e.g. /binary de ad be ef',
  '/quit                   close with 1000 and exit',
  '/help                   list these commands',
  '//text                  send "/text" as a text message',
];

/** Control frames carry at most 125 bytes (RFC 6455 §5.5); a close reason 123 after its code. */
const MAX_PING_DATA = 125;
const MAX_CLOSE_REASON = 123;

/** Close codes an endpoint may send: the check server, client and CLI share. */
export { isSendableCloseCode };

/** Turns one typed line into an action. A line that is not a command is a text message. */
export function parseInput(line: string): Action {
  if (line === '') return { kind: 'nothing' };
  if (line.startsWith('//')) return { kind: 'text', text: line.slice(1) };
  if (!line.startsWith('/')) return { kind: 'text', text: line };
  const space = line.indexOf(' ');
  const name = space === -1 ? line.slice(1) : line.slice(1, space);
  const rest = space === -1 ? '' : line.slice(space + 1).trim();
  switch (name) {
    case 'ping':
      return parsePing(rest);
    case 'close':
      return parseClose(rest);
    case 'binary':
      return parseBinary(rest);
    case 'quit':
    case 'exit':
      return { kind: 'quit' };
    case 'help':
    case '?':
      return { kind: 'help' };
    default:
      return {
        kind: 'invalid',
        message: `Unknown command /${name}; /help lists the commands, and //${name} sends "/${name}" as text`,
      };
  }
}

function parsePing(rest: string): Action {
  if (rest === '') return { kind: 'ping', data: undefined };
  const data = Buffer.from(rest);
  if (data.length > MAX_PING_DATA) {
    return { kind: 'invalid', message: `/ping data is ${data.length} bytes; a ping carries at most ${MAX_PING_DATA}` };
  }
  return { kind: 'ping', data };
}

function parseClose(rest: string): Action {
  if (rest === '') return { kind: 'close', code: 1000, reason: '' };
  const [first = '', ...others] = rest.split(' ');
  const code = /^\d{4}$/.test(first) ? Number(first) : NaN;
  if (!isSendableCloseCode(code)) {
    return {
      kind: 'invalid',
      message: `/close needs a close code that may be sent (1000-1003, 1007-1014 or 3000-4999), got ${JSON.stringify(first)}`,
    };
  }
  const reason = others.join(' ').trim();
  if (Buffer.byteLength(reason) > MAX_CLOSE_REASON) {
    return {
      kind: 'invalid',
      message: `/close reason is ${Buffer.byteLength(reason)} bytes; a close frame has room for ${MAX_CLOSE_REASON}`,
    };
  }
  return { kind: 'close', code, reason };
}

function parseBinary(rest: string): Action {
  const digits = rest.replace(/[\s:]/g, '').replace(/^0x/i, '');
  if (digits === '') return { kind: 'invalid', message: '/binary needs the bytes in hex, e.g. /binary de ad be ef' };
  if (!/^[0-9a-f]*$/i.test(digits)) {
    return {
      kind: 'invalid',
      message: `/binary: ${JSON.stringify(rest)} is not hex (digits 0-9 and a-f, spaces or colons between bytes)`,
    };
  }
  if (digits.length % 2 !== 0)
    return { kind: 'invalid', message: `/binary: ${digits.length} hex digits is not a whole number of bytes` };
  return { kind: 'binary', data: Buffer.from(digits, 'hex') };
}
