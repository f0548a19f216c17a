/**
 * What a server may put on the wire, checked byte by byte: a sequence of well-formed HTTP/1.1
 * responses, and after a 101 nothing but valid server frames (RFC 6455 §5). The suite runs every
 * generated case's received bytes through `readServerBytes` and fails on any `problem`.
 */
import { isSendableCloseCode } from '@switchyard/core';

export interface WireResponse {
  status: number;
  headers: Record<string, string>;
}

export interface WireFrame {
  fin: boolean;
  opcode: number;
  payload: Buffer;
}

export interface WireReport {
  responses: WireResponse[];
  /** Frames after a 101. */
  frames: WireFrame[];
  /** The close code the server sent, if it sent a close frame. */
  closeCode: number | undefined;
  /** What is wrong with the bytes, if anything. */
  problem: string | undefined;
  /** The bytes ended inside a response or a frame (the connection was cut mid-way). */
  truncated: boolean;
}

const STATUS_LINE = /^HTTP\/1\.1 ([1-5]\d\d) [^\r\n]*$/;
const DATA_OPCODES = new Set([0, 1, 2]);
const CONTROL_OPCODES = new Set([8, 9, 10]);
const utf8 = new TextDecoder('utf-8', { fatal: true });

function validUtf8(bytes: Buffer): boolean {
  try {
    utf8.decode(bytes);
    return true;
  } catch {
    return false;
  }
}

/** Reads everything a server sent on one connection. */
export function readServerBytes(data: Buffer): WireReport {
  const report: WireReport = { responses: [], frames: [], closeCode: undefined, problem: undefined, truncated: false };
  let offset = 0;
  while (offset < data.length) {
    const end = data.indexOf('\r\n\r\n', offset);
    if (end === -1) {
      const partial = data.subarray(offset, Math.min(data.length, offset + 64)).toString('latin1');
      if (!'HTTP/1.1 '.startsWith(partial.slice(0, 9)) && !partial.startsWith('HTTP/1.1 ')) {
        report.problem = `bytes that are not an HTTP response: ${JSON.stringify(partial)}`;
      }
      report.truncated = true;
      return report;
    }
    const [statusLine = '', ...lines] = data.subarray(offset, end).toString('latin1').split('\r\n');
    const match = STATUS_LINE.exec(statusLine);
    if (!match) {
      report.problem = `malformed status line ${JSON.stringify(statusLine.slice(0, 80))}`;
      return report;
    }
    const headers: Record<string, string> = {};
    for (const line of lines) {
      const colon = line.indexOf(':');
      if (colon <= 0) {
        report.problem = `malformed header line ${JSON.stringify(line.slice(0, 80))}`;
        return report;
      }
      headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    const status = Number(match[1]);
    report.responses.push({ status, headers });
    offset = end + 4;
    if (status === 101) {
      readFrames(data.subarray(offset), report);
      return report;
    }
    if (status < 200 || status === 204 || status === 304) continue;
    if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
      const after = skipChunked(data, offset);
      if (after === undefined) {
        report.truncated = true;
        return report;
      }
      if (after === -1) {
        report.problem = 'malformed chunked body';
        return report;
      }
      offset = after;
    } else if (headers['content-length'] !== undefined) {
      const length = Number(headers['content-length']);
      if (!Number.isInteger(length) || length < 0) {
        report.problem = `bad Content-Length ${headers['content-length']}`;
        return report;
      }
      if (offset + length > data.length) {
        report.truncated = true;
        return report;
      }
      offset += length;
    } else {
      // A body delimited by the end of the connection (an SSE stream, or Connection: close).
      return report;
    }
  }
  return report;
}

/** Where a chunked body ends; undefined when the data stops inside it, -1 when malformed. */
function skipChunked(data: Buffer, start: number): number | undefined {
  let offset = start;
  for (;;) {
    const lineEnd = data.indexOf('\r\n', offset);
    if (lineEnd === -1) return undefined;
    const size = Number.parseInt(data.subarray(offset, lineEnd).toString('latin1').split(';')[0]!, 16);
    if (!Number.isInteger(size) || size < 0) return -1;
    offset = lineEnd + 2;
    if (size === 0) {
      // No trailers from these servers: the terminating CRLF follows.
      if (offset + 2 > data.length) return undefined;
      return offset + 2;
    }
    if (offset + size + 2 > data.length) return undefined;
    offset += size + 2;
  }
}

function readFrames(data: Buffer, report: WireReport): void {
  let offset = 0;
  let fragmented = false;
  while (offset < data.length) {
    if (report.closeCode !== undefined || report.frames.some((f) => f.opcode === 8)) {
      report.problem = "bytes after the server's close frame";
      return;
    }
    if (offset + 2 > data.length) {
      report.truncated = true;
      return;
    }
    const b0 = data[offset]!;
    const b1 = data[offset + 1]!;
    const fin = (b0 & 0x80) !== 0;
    const rsv = (b0 >> 4) & 7;
    const opcode = b0 & 0x0f;
    if (rsv !== 0) {
      report.problem = `RSV bits ${rsv} on a server frame (no extension was negotiated)`;
      return;
    }
    if (!DATA_OPCODES.has(opcode) && !CONTROL_OPCODES.has(opcode)) {
      report.problem = `reserved opcode ${opcode}`;
      return;
    }
    if (b1 & 0x80) {
      report.problem = 'a masked server frame';
      return;
    }
    let length = b1 & 0x7f;
    let at = offset + 2;
    if (length === 126) {
      if (at + 2 > data.length) break;
      length = data.readUInt16BE(at);
      at += 2;
    } else if (length === 127) {
      if (at + 8 > data.length) break;
      const big = data.readBigUInt64BE(at);
      if (big > BigInt(Number.MAX_SAFE_INTEGER)) {
        report.problem = 'a 64-bit length with the top bit set';
        return;
      }
      length = Number(big);
      at += 8;
    }
    if (CONTROL_OPCODES.has(opcode) && (!fin || length > 125)) {
      report.problem = `control frame ${opcode} fragmented or over 125 bytes`;
      return;
    }
    if (at + length > data.length) {
      report.truncated = true;
      return;
    }
    const payload = data.subarray(at, at + length);
    if (opcode === 0 && !fragmented) {
      report.problem = 'a continuation frame with no message to continue';
      return;
    }
    if ((opcode === 1 || opcode === 2) && fragmented) {
      report.problem = 'a new message inside a fragmented one';
      return;
    }
    if (DATA_OPCODES.has(opcode)) fragmented = !fin;
    if (opcode === 1 && fin && !validUtf8(payload)) {
      report.problem = 'a text frame that is not UTF-8';
      return;
    }
    if (opcode === 8) {
      if (length === 1) {
        report.problem = 'a close frame with a one-byte payload';
        return;
      }
      if (length >= 2) {
        const code = payload.readUInt16BE(0);
        if (!isSendableCloseCode(code)) {
          report.problem = `close code ${code} may not be sent`;
          return;
        }
        if (!validUtf8(payload.subarray(2))) {
          report.problem = 'a close reason that is not UTF-8';
          return;
        }
        report.closeCode = code;
      } else {
        report.closeCode = 1005;
      }
    }
    report.frames.push({ fin, opcode, payload });
    offset = at + length;
  }
  if (offset < data.length) report.truncated = true;
}
