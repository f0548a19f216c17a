/**
 * `switchyard echo`: an echo server for trying things out, on switchyard's own core. A plain
 * `node:http` (or `node:https`) server hands every upgrade request to one core endpoint, the
 * way the framework adapters do; everything the endpoint can say is logged.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { once } from 'node:events';
import { createServer as createHttpServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { createEndpoint, isWebSocketRequest, reject, shutdown } from '@switchyard/core';
import type { Connection, Endpoint, UpgradeRequest } from '@switchyard/core';
import { parseCommandLine, parseInteger, parseProtocolFlags, parseSize, UsageError } from './args.js';
import { generateCertificate, readCertificate } from './certificate.js';
import type { Certificate } from './certificate.js';
import { ExitCode } from './exit-codes.js';
import { bytes, describeBinary, describeClose, duration, printable, timestamp } from './format.js';
import { ECHO_HELP } from './help.js';
import type { Output } from './output.js';

/** Settings of an echo server, from its flags. */
export interface EchoOptions {
  port: number;
  /** Interface to listen on; undefined: all of them. */
  host: string | undefined;
  /** The only path that upgrades; undefined: every path. */
  path: string | undefined;
  protocols: string[];
  /** `'generate'` for a fresh self-signed certificate, or PEM file paths. */
  tls: 'generate' | { cert: string; key: string } | undefined;
  compression: boolean;
  maxPayload: number | undefined;
  token: string | undefined;
  greet: boolean;
}

/** What the echo endpoint remembers per connection. */
interface Visit {
  id: number;
  openedAt: number;
  messages: number;
}

/** A running echo server. */
export interface EchoServer {
  server: Server;
  endpoint: Endpoint<Visit>;
  /** The URL clients connect to, e.g. `ws://localhost:8080/`. */
  url: string;
  certificate: Certificate | undefined;
}

/** Reads the flags of `switchyard echo`; `undefined` when `--help` was asked for. */
export function parseEchoArgs(args: string[]): EchoOptions | undefined {
  const { values, positionals } = parseCommandLine({
    args,
    allowPositionals: true,
    options: {
      port: { type: 'string', short: 'p' },
      host: { type: 'string' },
      path: { type: 'string' },
      protocol: { type: 'string', multiple: true },
      tls: { type: 'boolean' },
      cert: { type: 'string' },
      key: { type: 'string' },
      compression: { type: 'boolean' },
      'max-payload': { type: 'string' },
      token: { type: 'string' },
      greet: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return undefined;
  if (positionals.length > 0) throw new UsageError(`echo takes no arguments, got ${JSON.stringify(positionals[0])}`);
  if ((values.cert === undefined) !== (values.key === undefined)) throw new UsageError('--cert and --key go together');
  if (values.path !== undefined && !values.path.startsWith('/'))
    throw new UsageError(`--path must start with "/", got ${JSON.stringify(values.path)}`);
  if (values.token === '') throw new UsageError('--token must not be empty');
  return {
    port: values.port === undefined ? 8080 : parseInteger('--port', values.port, 0, 65535),
    host: values.host,
    path: values.path,
    protocols: parseProtocolFlags(values.protocol),
    tls:
      values.cert !== undefined && values.key !== undefined
        ? { cert: values.cert, key: values.key }
        : values.tls
          ? 'generate'
          : undefined,
    compression: values.compression ?? false,
    maxPayload: values['max-payload'] === undefined ? undefined : parseSize('--max-payload', values['max-payload']),
    token: values.token,
    greet: values.greet ?? false,
  };
}

/** The URL with the value of any `token` query parameter hidden, for logs. */
function redactToken(url: string): string {
  return url.replace(/([?&]token=)[^&]*/g, '$1***');
}

/** An address as people write it: IPv4 clients of a dual-stack server appear as `::ffff:1.2.3.4`. */
function addressOf(address: string | undefined): string {
  if (address === undefined) return 'unknown address';
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice('::ffff:'.length) : address;
}

function pathOf(url: string | undefined): string {
  const path = url ?? '/';
  const query = path.indexOf('?');
  return query === -1 ? path : path.slice(0, query);
}

/** The token a request presents: `Authorization: Bearer T` first, else `?token=T`. */
function presentedToken(req: UpgradeRequest): string | undefined {
  // An Authorization header, or a browser's base64url.bearer.<token> subprotocol entry.
  if (req.bearerToken !== undefined) return req.bearerToken;
  const query = req.query.token;
  return Array.isArray(query) ? query[0] : query;
}

/** Compares digests, which have equal lengths, so the time taken says nothing about the token. */
function sameToken(presented: string, expected: string): boolean {
  const digest = (value: string): Buffer => createHash('sha256').update(value).digest();
  return timingSafeEqual(digest(presented), digest(expected));
}

/** Starts an echo server and logs its traffic to `output`. Resolves once it listens. */
export async function startEchoServer(options: EchoOptions, output: Output): Promise<EchoServer> {
  const { style } = output;
  const log = (line: string): void => output.print(`${style.dim(timestamp())} ${line}`);
  const tag = (ws: Connection<Visit>): string => style.cyan(`#${ws.context.id}`);
  let visits = 0;

  const endpoint = createEndpoint<Visit>({
    protocols: options.protocols.length > 0 ? options.protocols : undefined,
    compression: options.compression,
    maxPayload: options.maxPayload,
    upgrade(req) {
      const from = addressOf(req.remoteAddress);
      if (options.path !== undefined && req.path !== options.path) {
        log(`${style.yellow('404')} ${redactToken(req.url)} from ${from}: not the --path`);
        return reject(404, `No WebSocket endpoint at ${req.path}; this echo server listens on ${options.path}`);
      }
      if (options.token !== undefined) {
        const token = presentedToken(req);
        if (token === undefined) {
          log(`${style.yellow('401')} ${redactToken(req.url)} from ${from}: no token`);
          return reject(
            401,
            'A token is required: send "Authorization: Bearer <token>" or add ?token=<token> to the URL',
            { 'WWW-Authenticate': 'Bearer realm="switchyard echo"' },
          );
        }
        if (!sameToken(token, options.token)) {
          log(`${style.yellow('401')} ${redactToken(req.url)} from ${from}: wrong token`);
          return reject(401, 'The token is not valid', {
            'WWW-Authenticate': 'Bearer realm="switchyard echo", error="invalid_token"',
          });
        }
      }
      return { context: { id: ++visits, openedAt: performance.now(), messages: 0 } };
    },
    // Core's own refusals (a bad key, a version, a subprotocol no one speaks); the 401s and 404s
    // above are this hook's own and already logged with their reason.
    rejected(info) {
      if (info.status === 401 || info.status === 404) return;
      log(
        `${style.yellow(String(info.status))} GET ${info.path} from ${addressOf(info.remoteAddress)}: ${info.reason}`,
      );
    },
    open(ws) {
      const details = [
        `from ${addressOf(ws.request.remoteAddress)}`,
        `GET ${redactToken(ws.request.url)}`,
        `subprotocol: ${ws.protocol || 'none'}`,
        `extensions: ${ws.extensions || 'none'}`,
      ];
      log(`${tag(ws)} ${style.green('open')} ${details.join(', ')}`);
      if (options.greet) ws.send(`connected to ${ws.request.path}`);
    },
    message(ws, data, isBinary) {
      ws.context.messages++;
      log(`${tag(ws)} < ${isBinary ? describeBinary(data as Buffer) : printable(data as string)}`);
      ws.send(data);
    },
    ping(ws, data) {
      log(
        `${tag(ws)} < [ping${data.length > 0 ? `, ${bytes(data.length)}` : ''}]${data.length > 0 ? ` ${printable(data.toString())}` : ''}`,
      );
    },
    close(ws, event) {
      const messages = ws.context.messages === 1 ? '1 message' : `${ws.context.messages} messages`;
      const colour = event.code === 1000 || event.code === 1001 ? style.green : style.yellow;
      log(
        `${tag(ws)} ${colour('closed')} ${describeClose(event.code, printable(event.reason))}, after ${duration(performance.now() - ws.context.openedAt)} and ${messages}`,
      );
    },
    error(ws, error) {
      log(`${ws ? tag(ws) : '-'} ${style.red('error')} ${error.message}`);
    },
  });

  const certificate =
    options.tls === undefined
      ? undefined
      : options.tls === 'generate'
        ? await generateCertificate(options.host)
        : await readCertificate(options.tls.cert, options.tls.key);

  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    if (isWebSocketRequest(req)) {
      void endpoint.handle(req, res);
      return;
    }
    const from = addressOf(req.socket.remoteAddress);
    if (options.path !== undefined && pathOf(req.url) !== options.path) {
      log(
        `${style.yellow('404')} ${req.method} ${redactToken(req.url ?? '/')} from ${from}: plain HTTP, not the --path`,
      );
      res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' });
      res.end(`Not found. This switchyard echo server accepts WebSockets at ${options.path}\n`);
      return;
    }
    log(
      `${style.yellow('426')} ${req.method} ${redactToken(req.url ?? '/')} from ${from}: plain HTTP, not a WebSocket handshake`,
    );
    res.writeHead(426, { 'Content-Type': 'text/plain; charset=utf-8', Upgrade: 'websocket', Connection: 'Upgrade' });
    res.end(
      `This is a switchyard echo server; it speaks WebSocket. Try: switchyard connect ${urlOf(server, options, certificate)}\n`,
    );
  };

  const server = certificate
    ? createHttpsServer({ cert: certificate.cert, key: certificate.key }, onRequest)
    : createHttpServer(onRequest);
  server.listen(options.port, options.host);
  await once(server, 'listening');
  return { server, endpoint, url: urlOf(server, options, certificate), certificate };
}

/** Where clients reach the server; a wildcard address is shown as localhost. */
function urlOf(server: Server, options: EchoOptions, certificate: Certificate | undefined): string {
  const address = server.address() as AddressInfo;
  const wildcard = options.host === undefined || address.address === '::' || address.address === '0.0.0.0';
  const host = wildcard ? 'localhost' : address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return `${certificate ? 'wss' : 'ws'}://${host}:${address.port}${options.path ?? '/'}`;
}

function printBanner(echo: EchoServer, options: EchoOptions, output: Output): void {
  const { style } = output;
  const { port } = echo.server.address() as AddressInfo;
  // Tests and scripts read the port from this line: keep its shape.
  output.print(
    `${style.bold('switchyard echo')} listening on ${style.cyan(echo.url)} (port ${port}${options.path ? '' : ', any path'})`,
  );
  const settings = [
    `subprotocols: ${options.protocols.length > 0 ? options.protocols.join(', ') : 'none declared (offers are answered without one)'}`,
    `compression: ${options.compression ? 'permessage-deflate when the client offers it' : 'off'}`,
    `max payload: ${bytes(echo.endpoint.options.maxPayload)} (larger messages close with 1009)`,
    options.token !== undefined
      ? 'token: required, as "Authorization: Bearer <token>" or ?token=<token>'
      : 'token: not required',
    options.greet ? 'greeting: "connected to <path>" on open' : '',
  ];
  if (echo.certificate) {
    settings.push(
      `TLS: ${options.tls === 'generate' ? 'self-signed certificate' : 'certificate'} for ${echo.certificate.names}`,
    );
    settings.push(`certificate SHA-256: ${echo.certificate.fingerprint}`);
    if (options.tls === 'generate') settings.push('clients must skip verification: switchyard connect --insecure');
  }
  for (const line of settings) if (line) output.print(`  ${line}`);
  output.print(`Try: switchyard connect ${echo.url}${options.tls === 'generate' ? ' --insecure' : ''}`);
  output.print('Every connection, message and close is logged below. Ctrl-C stops the server (clients get 1001).');
}

/** Runs `switchyard echo` until SIGINT or SIGTERM; resolves with the exit status. */
export async function runEcho(args: string[], output: Output): Promise<number> {
  const options = parseEchoArgs(args);
  if (!options) {
    output.print(ECHO_HELP);
    return ExitCode.OK;
  }
  let echo: EchoServer;
  try {
    echo = await startEchoServer(options, output);
  } catch (error) {
    output.note(`switchyard echo: ${startError(error as NodeJS.ErrnoException, options)}`);
    return ExitCode.FAILURE;
  }
  printBanner(echo, options, output);

  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    const stop = (name: NodeJS.Signals): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      // A second Ctrl-C while clients take their time to close means "now". Under pnpm one Ctrl-C
      // arrives twice (the terminal signals the process group, and pnpm forwards its own), so a
      // repeat within a second is the same press.
      const first = Date.now();
      process.on('SIGINT', () => {
        if (Date.now() - first > 1000) process.exit(130);
      });
      resolve(name);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  const open = echo.endpoint.connections.size;
  output.print(
    `${output.style.dim(timestamp())} ${signal}: shutting down${open > 0 ? `, closing ${open === 1 ? '1 connection' : `${open} connections`} with 1001` : ''}`,
  );
  await shutdown(echo.server, { timeout: 2000 });
  echo.server.close();
  echo.server.closeAllConnections();
  return ExitCode.OK;
}

function startError(error: NodeJS.ErrnoException, options: EchoOptions): string {
  switch (error.code) {
    case 'EADDRINUSE':
      return `port ${options.port} is already in use; pick another with --port (--port 0 takes any free port)`;
    case 'EACCES':
      return `not allowed to listen on port ${options.port}; ports below 1024 need privileges`;
    case 'EADDRNOTAVAIL':
      return `this machine has no address ${options.host ?? ''}; check --host`;
    case 'ENOENT':
      return `cannot read ${error.path ?? 'the certificate or key'}: no such file`;
    default:
      return error.message;
  }
}
