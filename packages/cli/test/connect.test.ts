import { createHash } from 'node:crypto';
import type { Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { Cli, cleanUpAfterEach, cli, headerOf, rawServer, startEcho } from './harness.js';

cleanUpAfterEach();

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const accept = (key: string): string =>
  createHash('sha1')
    .update(key + GUID)
    .digest('base64');

const servers: Array<{ close(): unknown }> = [];
afterEach(() => {
  for (const server of servers.splice(0)) server.close();
});

/** A raw server answering each handshake with `answer(request)` (bytes as latin1), then holding the socket open. */
async function answering(answer: (request: string) => string): Promise<number> {
  const { server, port } = await rawServer((socket: Socket, request) =>
    socket.write(Buffer.from(answer(request), 'latin1')),
  );
  servers.push(server);
  return port;
}

describe('the handshake transcript', () => {
  it('shows the request and response like curl -v, and checks Sec-WebSocket-Accept', async () => {
    const echo = await startEcho(['--protocol', 'chat']);
    const { status, stderr } = await cli([
      'connect',
      `${echo.origin}/path?q=1`,
      '-H',
      'Cookie: a=1',
      '-H',
      'X-Trace: t',
      '--origin',
      'https://example.test',
      '--protocol',
      'chat,superchat',
      '--expect',
      '0',
    ]);
    expect(status).toBe(0);
    expect(stderr).toMatch(
      new RegExp(
        `^\\* Connecting to 127\\.0\\.0\\.1 port ${echo.port} \\(ws://127\\.0\\.0\\.1:${echo.port}/path\\?q=1\\)\\n\\* Connected to 127\\.0\\.0\\.1 \\(127\\.0\\.0\\.1\\) port ${echo.port}\\n> GET /path\\?q=1 HTTP/1\\.1\\n`,
      ),
    );
    const key = /^> Sec-WebSocket-Key: (\S+)$/m.exec(stderr)?.[1];
    expect(key).toMatch(/^[A-Za-z0-9+/]{22}==$/);
    for (const line of [
      '> Cookie: a=1',
      '> X-Trace: t',
      '> Origin: https://example.test',
      '> Sec-WebSocket-Protocol: chat,superchat',
      '> Sec-WebSocket-Version: 13',
      '> Upgrade: websocket',
      '> Connection: Upgrade',
      `> Host: 127.0.0.1:${echo.port}`,
    ]) {
      expect(stderr).toMatch(new RegExp(`^${line.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm'));
    }
    expect(stderr).toContain(`>\n< HTTP/1.1 101 Switching Protocols\n`);
    expect(stderr).toContain(`< Sec-WebSocket-Accept: ${accept(key!)}\n`);
    expect(stderr).toContain('< Sec-WebSocket-Protocol: chat\n<\n');
    expect(stderr).toContain(
      `* Sec-WebSocket-Accept is correct: base64(SHA-1(Sec-WebSocket-Key + "${GUID}")) = ${accept(key!)}\n`,
    );
    expect(stderr).toContain('* Subprotocol: chat (offered: chat, superchat)\n* Extensions: none\n');
  });

  it('catches a wrong Sec-WebSocket-Accept', async () => {
    const port = await answering(
      () =>
        'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: bm90IHRoZSByaWdodCBvbmU=\r\n\r\n',
    );
    const { status, stdout, stderr } = await cli(['connect', `ws://127.0.0.1:${port}`, '--expect', '0']);
    expect(status).toBe(3);
    expect(stdout).toBe('');
    const key = /^> Sec-WebSocket-Key: (\S+)$/m.exec(stderr)![1]!;
    expect(stderr).toContain(
      `* Sec-WebSocket-Accept is WRONG: expected base64(SHA-1(Sec-WebSocket-Key + "${GUID}")) = ${accept(key)}, got bm90IHRoZSByaWdodCBvbmU=\n`,
    );
    expect(stderr).toContain('* Handshake failed: Invalid Sec-WebSocket-Accept header\n');
  });

  it('uses no colours when its output is not a terminal, and escapes control characters from the server', async () => {
    const echo = await startEcho();
    const { status, stdout, stderr } = await cli([
      'connect',
      echo.origin,
      '--send',
      '\x1b[2Jgotcha\r',
      '--expect',
      '1',
    ]);
    expect(status).toBe(0);
    expect(stdout).toContain(' < \\x1b[2Jgotcha\\x0d\n');
    expect(stdout + stderr).not.toContain('\x1b');
  });
});

describe('subprotocol mismatches are explained', () => {
  it('a switchyard server that speaks none of the offered protocols: its 400 names both sides', async () => {
    const echo = await startEcho(['--protocol', 'chat', '--protocol', 'chat.v2']);
    const { status, stdout, stderr } = await cli(['connect', echo.origin, '--protocol', 'superchat', '--expect', '0']);
    expect(status).toBe(3);
    expect(stdout).toBe('');
    expect(stderr).toContain('< HTTP/1.1 400 Bad Request\n');
    expect(stderr).toContain(
      '<\nUnsupported subprotocol: the client offered superchat; this endpoint speaks chat, chat.v2\n',
    );
    expect(stderr).toContain(
      '* You offered the subprotocol superchat. A server that speaks none of them refuses the handshake',
    );
  });

  it('a 101 without any of the offered protocols: browsers would fail it too', async () => {
    const echo = await startEcho();
    const { status, stderr } = await cli(['connect', echo.origin, '--protocol', 'chat', '--expect', '0']);
    expect(status).toBe(3);
    expect(stderr).toContain('< HTTP/1.1 101 Switching Protocols\n');
    expect(stderr).toContain('* Handshake failed: Server sent no subprotocol\n');
    expect(stderr).toContain('* The client offered chat, but the 101 names no subprotocol.\n');
    expect(stderr).toContain(
      '* This client fails such a connection, and so do browsers (Chrome: "Error during WebSocket handshake: Sent non-empty \'Sec-WebSocket-Protocol\' header but no response was received").\n',
    );
  });

  it('a 101 naming a protocol that was not offered', async () => {
    const port = await answering(
      (request) =>
        `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept(headerOf(request, 'Sec-WebSocket-Key')!)}\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n`,
    );
    const { status, stderr } = await cli(['connect', `ws://127.0.0.1:${port}`, '--protocol', 'chat', '--expect', '0']);
    expect(status).toBe(3);
    expect(stderr).toContain('* Sec-WebSocket-Accept is correct');
    expect(stderr).toContain('* Handshake failed: Server sent an invalid subprotocol\n');
    expect(stderr).toContain(
      '* The 101 names the subprotocol mqtt, which the client did not offer (it offered chat); browsers fail such a connection too.',
    );
  });
});

describe('interactive mode, driven through stdin', () => {
  it('sends typed lines, runs the commands, and prints what comes back with timestamps', async () => {
    const echo = await startEcho(['--greet']);
    const client = new Cli(['connect', `${echo.origin}/live`]);
    await client.waitFor(
      'stderr',
      /^\* Connected\. Type a message and press Enter to send it as text; \/help lists the commands, \/quit exits\.$/m,
    );
    await client.waitFor('stdout', /^\d\d:\d\d:\d\d\.\d{3} < connected to \/live$/m);

    client.type('hello there');
    await client.waitFor('stdout', /^\d\d:\d\d:\d\d\.\d{3} > hello there\n\d\d:\d\d:\d\d\.\d{3} < hello there$/m);

    client.type('/binary de ad be ef 00');
    await client.waitFor(
      'stdout',
      /^\S+ > \[binary, 5 bytes\] de ad be ef 00\n\S+ < \[binary, 5 bytes\] de ad be ef 00$/m,
    );
    await echo.cli.waitFor('stdout', /#1 < \[binary, 5 bytes\] de ad be ef 00/);

    client.type('/bogus');
    await client.waitFor(
      'stderr',
      /^Unknown command \/bogus; \/help lists the commands, and \/\/bogus sends "\/bogus" as text$/m,
    );
    client.type('/binary xyz');
    await client.waitFor('stderr', /^\/binary: "xyz" is not hex/m);
    client.type('//bogus');
    await client.waitFor('stdout', /^\S+ < \/bogus$/m);

    client.type('/help');
    await client.waitFor('stdout', /^\/ping \[data\] +send a ping and print the round-trip time$/m);

    client.type('/close 4100 all done');
    await client.waitFor(
      'stdout',
      /^\S+ > \[close\] 4100 \(application-defined\) "all done"\n\S+ \* closed: 4100 \(application-defined\) "all done"$/m,
    );
    expect(await client.exited).toBe(0);
    await echo.cli.waitFor('stdout', /#1 closed 4100 \(application-defined\) "all done", after .* and 3 messages/);
    // The unknown command and the bad hex were not sent: the 3 messages are these.
    expect(echo.cli.stdout.match(/#1 < .*/g)).toEqual([
      '#1 < hello there',
      '#1 < [binary, 5 bytes] de ad be ef 00',
      '#1 < /bogus',
    ]);
  });

  it('/ping prints the round-trip time, with the data it carried', async () => {
    const echo = await startEcho();
    const client = new Cli(['connect', echo.origin]);
    await client.waitFor('stderr', /\* Connected\./);
    client.type('/ping');
    await client.waitFor('stdout', /^\S+ > \[ping\]\n\S+ < \[pong after \d+(\.\d+)? m?s\]$/m);
    client.type('/ping are you there?');
    await client.waitFor('stdout', /^\S+ < \[pong after \d+(\.\d+)? m?s\] are you there\?$/m);
    await echo.cli.waitFor('stdout', /#1 < \[ping, 14 bytes\] are you there\?/);
    client.type(`/ping ${'x'.repeat(126)}`);
    await client.waitFor('stderr', /^\/ping data is 126 bytes; a ping carries at most 125$/m);
    client.type('/quit');
    await client.waitFor('stdout', /\* closed: 1000 \(normal\)/);
    expect(await client.exited).toBe(0);
  });

  it('closes with 1000 and exits 0 at the end of its input', async () => {
    const echo = await startEcho();
    const { status, stdout } = await cli(['connect', echo.origin], 'first\nsecond\n');
    expect(status).toBe(0);
    expect(stdout).toMatch(/ > first\n.* > second\n/);
    expect(stdout).toMatch(/\* closed: 1000 \(normal\)\n$/);
    await echo.cli.waitFor('stdout', /#1 closed 1000 \(normal\)/);
  });
});

describe.runIf(process.platform === 'linux')('interactive mode on a terminal', () => {
  it('colours the transcript, keeps a prompt, and quits with 1000 on Ctrl-C', async () => {
    const echo = await startEcho();
    const client = new Cli(['connect', echo.origin], { terminal: true, env: { NO_COLOR: undefined } });
    await client.waitFor('stdout', /\* Connected\. Type a message/);
    expect(client.stdout).toContain('\x1b[32m* Sec-WebSocket-Accept is correct');
    expect(client.stdout).toMatch(/\x1b\[36m> GET \/ HTTP\/1\.1/);
    await client.waitFor('stdout', /\n(\x1b\[\d*[GJ])*> (\x1b\[3G)?$/);
    client.child.stdin.write('hi\r');
    await client.waitFor('stdout', /\x1b\[2m\d\d:\d\d:\d\d\.\d{3}\x1b\[22m < hi\r?\n/);
    // A terminal shows what was typed; only a pipe gets a "> hi" line as well.
    expect(client.stdout).not.toMatch(/\d{3}(\x1b\[22m)? > hi/);
    client.child.stdin.write('\x03');
    await client.waitFor('stdout', /\* closed:\x1b\[39m 1000 \(normal\)/);
    expect(await client.exited).toBe(0);
    await echo.cli.waitFor('stdout', /#1 closed 1000 \(normal\), after .* and 1 message\n/);
  });

  it('uses no colours on a terminal when NO_COLOR is set', async () => {
    const echo = await startEcho();
    const client = new Cli(['connect', echo.origin, '--expect', '0'], { terminal: true, env: { NO_COLOR: '1' } });
    expect(await client.exited).toBe(0);
    expect(client.stdout).toContain('* Sec-WebSocket-Accept is correct');
    expect(client.stdout).not.toContain('\x1b[');
  });
});

describe('exit statuses', () => {
  it('3 when nothing listens, with a hint', async () => {
    const { server, port } = await rawServer(() => {});
    await new Promise((resolve) => server.close(resolve));
    const { status, stderr } = await cli(['connect', `ws://127.0.0.1:${port}`, '--expect', '0']);
    expect(status).toBe(3);
    expect(stderr).toContain(`* Handshake failed: connect ECONNREFUSED 127.0.0.1:${port}\n`);
    expect(stderr).toContain(
      `* Nothing is listening on 127.0.0.1 port ${port}. Is the server running? To start one there: switchyard echo --port ${port}\n`,
    );
  });

  it('4 when the server never answers the handshake within --timeout', async () => {
    const { server, port } = await rawServer(() => {});
    servers.push(server);
    const started = Date.now();
    const { status, stderr } = await cli(['connect', `ws://127.0.0.1:${port}`, '--timeout', '0.5']);
    expect(status).toBe(4);
    expect(Date.now() - started).toBeGreaterThanOrEqual(500);
    expect(stderr).toContain('> GET / HTTP/1.1\n');
    expect(stderr).toContain('* Timed out after 500 ms: the handshake did not finish\n');
  });

  it('4 when --expect messages do not all come within --timeout', async () => {
    const echo = await startEcho();
    const { status, stdout, stderr } = await cli([
      'connect',
      echo.origin,
      '--send',
      'only one',
      '--expect',
      '2',
      '--timeout',
      '0.8',
    ]);
    expect(status).toBe(4);
    expect(stdout).toMatch(/ < only one\n/);
    expect(stderr).toContain('* Timed out after 800 ms waiting for 2 messages; received 1\n');
  });

  it('5 when the server drops the connection without a close frame', async () => {
    const echo = await startEcho();
    const client = new Cli(['connect', echo.origin]);
    await client.waitFor('stderr', /\* Connected\./);
    echo.cli.kill('SIGKILL');
    await client.waitFor('stdout', /\* connection dropped: 1006 \(abnormal: dropped without a close frame\)/);
    expect(await client.exited).toBe(5);
  });

  it('5 when the server closes with an error code', async () => {
    const port = await answering((request) => {
      const head = `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept(headerOf(request, 'Sec-WebSocket-Key')!)}\r\n\r\n`;
      const reason = Buffer.from('boom');
      // A close frame: FIN + opcode 8, unmasked, code 1011 and a reason.
      const close = Buffer.concat([Buffer.from([0x88, 2 + reason.length, 0x03, 0xf3]), reason]);
      return head + close.toString('latin1');
    });
    // Interactive, with stdin left open: the end of input would close the connection first.
    const client = new Cli(['connect', `ws://127.0.0.1:${port}`]);
    expect(await client.exited).toBe(5);
    expect(client.stdout).toMatch(/\* closed by the server: 1011 \(internal error\) "boom"\n$/);
  });

  it('0 when the server closes normally', async () => {
    const port = await answering((request) => {
      const head = `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept(headerOf(request, 'Sec-WebSocket-Key')!)}\r\n\r\n`;
      return head + Buffer.from([0x88, 2, 0x03, 0xe8]).toString('latin1');
    });
    const client = new Cli(['connect', `ws://127.0.0.1:${port}`]);
    expect(await client.exited).toBe(0);
    expect(client.stdout).toMatch(/\* closed by the server: 1000 \(normal\)\n$/);
  });
});
