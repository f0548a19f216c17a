/**
 * `switchyard connect URL`: a WebSocket client that shows its handshake like `curl -v`, then
 * either takes typed lines (interactive) or sends `--send` messages and waits for `--expect`
 * answers (script mode, for CI and health checks).
 *
 * Every way a session can end goes through one decision, the exit status, made once by
 * whatever ended it first (a command, the script, the timeout, a failed handshake, the server);
 * the process ends when the `ws` client reports the connection closed.
 */
import type { ClientRequest, IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { clearLine, createInterface, cursorTo } from 'node:readline';
import type { Interface } from 'node:readline';
import type { Readable } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import WebSocket from 'ws';
import type { RawData } from 'ws';
import { parseCommandLine, parseHeaders, parseInteger, parseProtocolFlags, parseSeconds, UsageError } from './args.js';
import { COMMANDS_HELP, parseInput } from './commands.js';
import type { Action } from './commands.js';
import { ExitCode } from './exit-codes.js';
import type { ExitStatus } from './exit-codes.js';
import { explainError, explainProtocolMismatch, explainRejection } from './explain.js';
import type { Attempt } from './explain.js';
import { bytes, describeBinary, describeClose, duration, printable, timestamp } from './format.js';
import { CONNECT_HELP } from './help.js';
import type { Output } from './output.js';
import { checkAccept, requestLines, responseLines, tlsLines } from './transcript.js';

/** Settings of a client session, from its flags. */
export interface ConnectOptions extends Attempt {
  headers: Record<string, string | string[]>;
  insecure: boolean;
  /** Script mode: texts to send once open. */
  send: string[];
  /** Script mode: how many messages to wait for before closing. */
  expect: number | undefined;
  /** Milliseconds allowed for the handshake, and in script mode for the whole run. */
  timeout: number;
}

/** How long the closing handshake may take before the connection is simply dropped. */
const CLOSE_GRACE_MS = 2000;
/** How much of a rejection's body is shown. */
const BODY_SHOWN = 4096;
/** Codes after which a close the client did not ask for still counts as a success. */
const CLEAN_CLOSE_CODES = new Set([1000, 1001, 1005]);
/** What `ws` says when the 101 names a subprotocol that does not fit the offer. */
const PROTOCOL_ERRORS = new Set([
  'Server sent no subprotocol',
  'Server sent an invalid subprotocol',
  'Server sent a subprotocol but none was requested',
]);

/** Accepts `ws:`, `wss:`, `http:` and `https:` URLs; a bare `host:port` means `ws://host:port`. */
export function parseTarget(value: string): URL {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? value : `ws://${value}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new UsageError(`not a URL: ${JSON.stringify(value)}`);
  }
  if (!['ws:', 'wss:', 'http:', 'https:'].includes(url.protocol)) {
    throw new UsageError(`the URL must start with ws:// or wss://, got ${url.protocol}//`);
  }
  return url;
}

/** Reads the flags of `switchyard connect`; `undefined` when `--help` was asked for. */
export function parseConnectArgs(args: string[]): ConnectOptions | undefined {
  const { values, positionals } = parseCommandLine({
    args,
    allowPositionals: true,
    options: {
      header: { type: 'string', short: 'H', multiple: true },
      protocol: { type: 'string', multiple: true },
      origin: { type: 'string' },
      insecure: { type: 'boolean', short: 'k' },
      compression: { type: 'boolean' },
      send: { type: 'string', short: 's', multiple: true },
      expect: { type: 'string', short: 'e' },
      timeout: { type: 'string', short: 't' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return undefined;
  const [target, ...extra] = positionals;
  if (target === undefined) throw new UsageError('connect needs a URL, e.g. switchyard connect ws://localhost:8080');
  if (extra.length > 0) throw new UsageError(`connect takes one URL, got also ${JSON.stringify(extra[0])}`);
  return {
    url: parseTarget(target),
    headers: parseHeaders(values.header),
    protocols: parseProtocolFlags(values.protocol),
    origin: values.origin,
    insecure: values.insecure ?? false,
    compression: values.compression ?? false,
    send: values.send ?? [],
    expect:
      values.expect === undefined ? undefined : parseInteger('--expect', values.expect, 0, Number.MAX_SAFE_INTEGER),
    timeout: values.timeout === undefined ? 10_000 : parseSeconds('--timeout', values.timeout),
  };
}

/** Runs `switchyard connect`; resolves with the exit status once the connection is over. */
export async function runConnect(
  args: string[],
  output: Output,
  stdin: Readable & { isTTY?: boolean },
): Promise<number> {
  const options = parseConnectArgs(args);
  if (!options) {
    output.print(CONNECT_HELP);
    return ExitCode.OK;
  }
  return new Session(options, output, stdin).run();
}

/** The payload of a control frame, after a space; nothing when empty. */
function shown(data: Buffer): string {
  return data.length > 0 ? ` ${printable(data.toString())}` : '';
}

function toBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  return Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
}

/** One connection, from the first byte of the handshake to the exit status. */
class Session {
  readonly #options: ConnectOptions;
  readonly #output: Output;
  readonly #stdin: Readable & { isTTY?: boolean };
  readonly #script: boolean;
  #ws: WebSocket | undefined;
  #key = '';
  #response: IncomingMessage | undefined;
  #opened = false;
  #status: ExitStatus | undefined;
  #closeStartedByUs = false;
  #received = 0;
  #prompt: Interface | undefined;
  #terminal = false;
  readonly #pings = new Map<string, number[]>();
  #deadline: NodeJS.Timeout | undefined;
  #closeGrace: NodeJS.Timeout | undefined;
  #resolve: (status: number) => void = () => {};

  constructor(options: ConnectOptions, output: Output, stdin: Readable & { isTTY?: boolean }) {
    this.#options = options;
    this.#output = output;
    this.#stdin = stdin;
    this.#script = options.send.length > 0 || options.expect !== undefined;
  }

  run(): Promise<number> {
    const { url, protocols, headers, origin, insecure, compression, timeout } = this.#options;
    const done = new Promise<number>((resolve) => {
      this.#resolve = resolve;
    });
    const port = url.port || (this.#secure ? '443' : '80');
    let ws: WebSocket;
    try {
      ws = new WebSocket(url, [...protocols], {
        headers,
        origin,
        rejectUnauthorized: !insecure,
        // ws offers compression unless told not to; here it is opt-in, like on the server.
        perMessageDeflate: compression,
        followRedirects: false,
        finishRequest: (req: ClientRequest) => this.#sendRequest(req),
      });
    } catch (error) {
      // ws refuses some URLs itself, e.g. one with a #fragment.
      if (error instanceof SyntaxError) throw new UsageError(`${url.href}: ${error.message}`);
      throw error;
    }
    this.#ws = ws;
    this.#info(`Connecting to ${url.hostname} port ${port} (${url.href})`);
    this.#deadline = setTimeout(() => this.#onTimeout(), timeout);
    ws.on('upgrade', (res) => this.#onUpgrade(res));
    ws.on('unexpected-response', (_req, res) => void this.#onRejected(res));
    ws.on('open', () => this.#onOpen());
    ws.on('error', (error) => this.#onError(error));
    ws.on('message', (data, isBinary) => this.#onMessage(toBuffer(data), isBinary));
    ws.on('ping', (data) => this.#conversation(`< [ping, answered with a pong]${shown(data)}`));
    ws.on('pong', (data) => this.#onPong(data));
    ws.on('close', (code, reason) => this.#onClose(code, reason.toString()));
    return done;
  }

  get #secure(): boolean {
    return this.#options.url.protocol === 'wss:' || this.#options.url.protocol === 'https:';
  }

  // --- output -------------------------------------------------------------------------------

  /** A `*` line of the transcript. */
  #info(line: string, colour: (text: string) => string = (text) => text): void {
    this.#output.note(colour(`* ${line}`));
  }

  /** A `*` line saying what went wrong. */
  #problem(line: string): void {
    this.#info(line, this.#output.noteStyle.red);
  }

  /** A timestamped line of the conversation. */
  #conversation(line: string): void {
    this.#output.print(`${this.#output.style.dim(timestamp())} ${line}`);
  }

  // --- handshake ----------------------------------------------------------------------------

  #sendRequest(req: ClientRequest): void {
    this.#key = String(req.getHeader('sec-websocket-key'));
    req.once('socket', (socket: Socket) => {
      socket.once('connect', () => {
        this.#info(`Connected to ${this.#options.url.hostname} (${socket.remoteAddress}) port ${socket.remotePort}`);
        if (!this.#secure) this.#printRequest(req);
      });
      if (this.#secure) {
        socket.once('secureConnect', () => {
          for (const line of tlsLines(socket as TLSSocket, this.#options.insecure)) this.#info(line);
          this.#printRequest(req);
        });
      }
    });
    req.end();
  }

  #printRequest(req: ClientRequest): void {
    const { cyan } = this.#output.noteStyle;
    for (const line of requestLines(req)) this.#output.note(cyan(`> ${line}`));
    this.#output.note(cyan('>'));
  }

  #printResponse(res: IncomingMessage): void {
    const { magenta } = this.#output.noteStyle;
    for (const line of responseLines(res)) this.#output.note(magenta(`< ${line}`));
    this.#output.note(magenta('<'));
  }

  #onUpgrade(res: IncomingMessage): void {
    this.#response = res;
    this.#printResponse(res);
    const accept = checkAccept(this.#key, res.headers['sec-websocket-accept']);
    this.#info(accept.summary, accept.ok ? this.#output.noteStyle.green : this.#output.noteStyle.red);
  }

  async #onRejected(res: IncomingMessage): Promise<void> {
    this.#response = res;
    this.#printResponse(res);
    const body = await readBody(res);
    if (body.text) this.#output.note(printable(body.text.replace(/\r?\n$/, '')));
    if (body.more > 0) this.#output.note(`… (${bytes(body.more)} more)`);
    const status = `${res.statusCode ?? '?'} ${res.statusMessage ?? ''}`.trimEnd();
    this.#problem(`Handshake failed: the server answered ${status} instead of 101 Switching Protocols`);
    for (const line of explainRejection(res.statusCode ?? 0, res.headers, this.#options)) this.#info(line);
    res.destroy();
    this.#conclude(ExitCode.HANDSHAKE_FAILED);
  }

  #onError(error: Error & { code?: string }): void {
    if (this.#status !== undefined) return;
    if (this.#opened) {
      // The peer broke the protocol; ws closes with the matching code, and #onClose decides.
      this.#problem(`Error: ${error.message}`);
      return;
    }
    this.#problem(
      `Handshake failed: ${error.message}${error.code && !error.message.includes(error.code) ? ` (${error.code})` : ''}`,
    );
    const explanation = PROTOCOL_ERRORS.has(error.message)
      ? explainProtocolMismatch(this.#options.protocols, this.#response?.headers['sec-websocket-protocol'])
      : explainError(error, this.#options);
    for (const line of explanation) this.#info(line);
    this.#conclude(ExitCode.HANDSHAKE_FAILED);
  }

  #onOpen(): void {
    const ws = this.#ws!;
    this.#opened = true;
    const { protocols, compression } = this.#options;
    const offered = protocols.length > 0 ? ` (offered: ${protocols.join(', ')})` : ' (none offered)';
    this.#info(`Subprotocol: ${ws.protocol || 'none'}${offered}`);
    const extensions = this.#response?.headers['sec-websocket-extensions'];
    this.#info(
      `Extensions: ${extensions ?? 'none'}${compression && !extensions ? ' (permessage-deflate offered, the server declined)' : ''}`,
    );
    if (this.#script) {
      // The deadline keeps running: in a script, --timeout covers the whole run.
      this.#runScript();
    } else {
      clearTimeout(this.#deadline);
      this.#startPrompt();
    }
  }

  #onTimeout(): void {
    const seconds = duration(this.#options.timeout);
    if (!this.#opened) {
      this.#problem(`Timed out after ${seconds}: the handshake did not finish`);
    } else {
      const { expect } = this.#options;
      this.#problem(
        expect !== undefined && this.#received < expect
          ? `Timed out after ${seconds} waiting for ${expect} messages; received ${this.#received}`
          : `Timed out after ${seconds}`,
      );
    }
    this.#conclude(ExitCode.TIMEOUT);
  }

  // --- the open connection ------------------------------------------------------------------

  #runScript(): void {
    const ws = this.#ws!;
    const { send, expect } = this.#options;
    this.#info(
      `Connected. ${send.length > 0 ? `Sending ${send.length === 1 ? '1 message' : `${send.length} messages`}` : 'Sending nothing'}` +
        `${expect ? `, then waiting for ${expect === 1 ? '1 message' : `${expect} messages`}` : ', then closing'}.`,
    );
    for (const text of send) {
      ws.send(text);
      this.#conversation(`> ${printable(text)}`);
    }
    if (!expect) this.#conclude(ExitCode.OK);
  }

  #startPrompt(): void {
    const output = this.#output;
    this.#terminal = this.#stdin.isTTY === true && output.interactive;
    this.#info(`Connected. Type a message and press Enter to send it as text; /help lists the commands, /quit exits.`);
    const prompt = createInterface({
      input: this.#stdin,
      output: output.stdout,
      terminal: this.#terminal,
      prompt: '> ',
    });
    this.#prompt = prompt;
    output.keepPrompt(this.#terminal ? prompt : undefined);
    prompt.on('line', (line) => this.#act(parseInput(line)));
    // Ctrl-C at the prompt: readline catches it, and without this listener would only pause.
    prompt.on('SIGINT', () => this.#act({ kind: 'quit' }));
    prompt.on('close', () => {
      // End of input (Ctrl-D, or the end of a piped file) means the person is done.
      if (this.#status === undefined) this.#conclude(ExitCode.OK);
    });
    if (this.#terminal) prompt.prompt();
  }

  #act(action: Action): void {
    const ws = this.#ws!;
    const { style } = this.#output;
    if (action.kind === 'help') {
      for (const line of COMMANDS_HELP) this.#output.print(line);
      return;
    }
    if (action.kind === 'invalid') {
      this.#output.note(style.red(action.message));
      return;
    }
    if (action.kind === 'nothing') return;
    if (ws.readyState !== WebSocket.OPEN) {
      this.#output.note(
        style.red(`The connection is ${ws.readyState === WebSocket.CLOSING ? 'closing' : 'closed'}; nothing sent`),
      );
      return;
    }
    switch (action.kind) {
      case 'text':
        ws.send(action.text);
        // A terminal already shows what was typed; a pipe shows nothing, so log it.
        if (!this.#terminal) this.#conversation(`> ${printable(action.text)}`);
        break;
      case 'binary':
        ws.send(action.data, { binary: true });
        this.#conversation(`> ${describeBinary(action.data)}`);
        break;
      case 'ping': {
        const data = action.data ?? Buffer.alloc(0);
        const key = data.toString('hex');
        const sent = this.#pings.get(key) ?? [];
        sent.push(performance.now());
        this.#pings.set(key, sent);
        ws.ping(data);
        if (!this.#terminal) this.#conversation(`> [ping]${shown(data)}`);
        break;
      }
      case 'close':
        if (!this.#terminal) this.#conversation(`> [close] ${describeClose(action.code, action.reason)}`);
        this.#conclude(ExitCode.OK, action.code, action.reason);
        break;
      case 'quit':
        this.#conclude(ExitCode.OK);
        break;
    }
  }

  #onMessage(data: Buffer, isBinary: boolean): void {
    this.#received++;
    this.#conversation(`< ${isBinary ? describeBinary(data) : printable(data.toString())}`);
    const { expect } = this.#options;
    if (this.#script && expect !== undefined && this.#received === expect) this.#conclude(ExitCode.OK);
  }

  #onPong(data: Buffer): void {
    const sent = this.#pings.get(data.toString('hex'));
    const sentAt = sent?.shift();
    if (sentAt === undefined) {
      this.#conversation(`< [pong, unsolicited]${shown(data)}`);
      return;
    }
    this.#conversation(`< [pong after ${duration(performance.now() - sentAt)}]${shown(data)}`);
  }

  // --- the end ------------------------------------------------------------------------------

  /**
   * Decides the exit status (the first decision stands) and ends the connection: a closing
   * handshake when open, an abort while the handshake runs. The process ends at 'close'.
   */
  #conclude(status: ExitStatus, code = 1000, reason = ''): void {
    this.#status ??= status;
    const ws = this.#ws!;
    if (ws.readyState === WebSocket.CONNECTING) {
      ws.terminate();
    } else if (ws.readyState === WebSocket.OPEN) {
      this.#closeStartedByUs = true;
      ws.close(code, reason);
      this.#closeGrace = setTimeout(() => {
        this.#problem(
          `The server did not answer the close within ${duration(CLOSE_GRACE_MS)}; dropping the connection`,
        );
        ws.terminate();
      }, CLOSE_GRACE_MS);
    } else if (ws.readyState === WebSocket.CLOSED) {
      this.#finish();
    }
  }

  #onClose(code: number, reason: string): void {
    this.#stopPrompt();
    if (this.#opened) {
      const who = this.#closeStartedByUs ? 'closed' : code === 1006 ? 'connection dropped' : 'closed by the server';
      const colour = CLEAN_CLOSE_CODES.has(code) ? this.#output.style.green : this.#output.style.yellow;
      this.#conversation(`${colour(`* ${who}:`)} ${describeClose(code, printable(reason))}`);
    }
    if (this.#status === undefined) {
      const { expect } = this.#options;
      if (!this.#opened) {
        this.#status = ExitCode.HANDSHAKE_FAILED;
      } else if (this.#script && expect !== undefined && this.#received < expect) {
        this.#problem(`The connection closed after ${this.#received} of the ${expect} expected messages`);
        this.#status = ExitCode.ABNORMAL_CLOSE;
      } else {
        this.#status = CLEAN_CLOSE_CODES.has(code) ? ExitCode.OK : ExitCode.ABNORMAL_CLOSE;
      }
    }
    this.#finish();
  }

  /** Takes the prompt, and whatever was typed at it, off the screen for good. */
  #stopPrompt(): void {
    const prompt = this.#prompt;
    if (!prompt) return;
    this.#prompt = undefined;
    this.#output.keepPrompt(undefined);
    if (this.#terminal) {
      clearLine(this.#output.stdout, 0);
      cursorTo(this.#output.stdout, 0);
    }
    prompt.removeAllListeners('close');
    prompt.close();
  }

  #finish(): void {
    clearTimeout(this.#deadline);
    clearTimeout(this.#closeGrace);
    this.#stopPrompt();
    this.#resolve(this.#status ?? ExitCode.FAILURE);
  }
}

/** The start of a response body, and how much more there was. */
async function readBody(res: IncomingMessage): Promise<{ text: string; more: number }> {
  const chunks: Buffer[] = [];
  let length = 0;
  let more = 0;
  res.on('data', (chunk: Buffer) => {
    if (length < BODY_SHOWN) chunks.push(chunk);
    else more += chunk.length;
    length += chunk.length;
  });
  await new Promise<void>((resolve) => {
    res
      .once('end', resolve)
      .once('close', resolve)
      .once('error', () => resolve());
    // A server that never ends its answer must not keep the client waiting forever.
    setTimeout(resolve, CLOSE_GRACE_MS).unref();
  });
  const body = Buffer.concat(chunks);
  more += Math.max(0, body.length - BODY_SHOWN);
  return { text: body.subarray(0, BODY_SHOWN).toString('utf8'), more };
}
