import { X509Certificate } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generate } from 'selfsigned';
import { describe, expect, it } from 'vitest';
import { Cli, cleanUpAfterEach, cli, startEcho } from './harness.js';

cleanUpAfterEach();

describe('switchyard echo with connect in script mode', () => {
  it('echoes every --send text, in order, and exits 0 once --expect messages came back', async () => {
    const echo = await startEcho();
    const { status, stdout, stderr } = await cli([
      'connect',
      `${echo.origin}/room?x=1`,
      '--send',
      'hello',
      '--send',
      'wörld',
      '--expect',
      '2',
    ]);
    expect(stderr).toContain('* Connected. Sending 2 messages, then waiting for 2 messages.');
    expect(stdout).toMatch(/^\d\d:\d\d:\d\d\.\d{3} > hello\n\d\d:\d\d:\d\d\.\d{3} > wörld\n/);
    expect(stdout).toMatch(/^\d\d:\d\d:\d\d\.\d{3} < hello\n\d\d:\d\d:\d\d\.\d{3} < wörld\n/m);
    expect(stdout).toMatch(/\* closed: 1000 \(normal\)\n$/);
    expect(status).toBe(0);
    await echo.cli.waitFor('stdout', /#1 closed 1000 \(normal\), after .* and 2 messages/);
    expect(echo.cli.stdout).toMatch(/#1 open from 127\.0\.0\.1, GET \/room\?x=1, subprotocol: none, extensions: none/);
    expect(echo.cli.stdout).toMatch(/#1 < hello\n.*#1 < wörld\n/);
  });

  it('with --expect 0 only checks the handshake', async () => {
    const echo = await startEcho();
    const { status, stdout, stderr } = await cli(['connect', echo.origin, '--expect', '0']);
    expect(status).toBe(0);
    expect(stderr).toContain('* Connected. Sending nothing, then closing.');
    expect(stdout).toMatch(/^\S+ \* closed: 1000 \(normal\)\n$/);
  });

  it('greets with "connected to <path>" and upgrades only at --path', async () => {
    const echo = await startEcho(['--path', '/chat', '--greet']);
    const greeted = await cli(['connect', `${echo.origin}/chat?room=1`, '--expect', '1']);
    expect(greeted.status).toBe(0);
    expect(greeted.stdout).toMatch(/ < connected to \/chat\n/);

    const elsewhere = await cli(['connect', `${echo.origin}/other`, '--expect', '1']);
    expect(elsewhere.status).toBe(3);
    expect(elsewhere.stderr).toContain('< HTTP/1.1 404 Not Found');
    expect(elsewhere.stderr).toContain('No WebSocket endpoint at /other; this echo server listens on /chat');
    expect(elsewhere.stderr).toContain('* Nothing accepts WebSockets at /other; check the path in the URL.');
    expect(echo.cli.stdout).toMatch(/404 \/other from 127\.0\.0\.1: not the --path/);
  });

  it('answers a plain HTTP request with 426 and how to connect', async () => {
    const echo = await startEcho();
    const response = await fetch(`http://127.0.0.1:${echo.port}/page`);
    expect(response.status).toBe(426);
    expect(response.headers.get('upgrade')).toBe('websocket');
    expect(await response.text()).toBe(
      `This is a switchyard echo server; it speaks WebSocket. Try: switchyard connect ws://127.0.0.1:${echo.port}/\n`,
    );
    await echo.cli.waitFor('stdout', /426 GET \/page from 127\.0\.0\.1: plain HTTP, not a WebSocket handshake/);
  });

  it('closes a message over --max-payload with 1009, and the client exits 5', async () => {
    const echo = await startEcho(['--max-payload', '16']);
    const { status, stdout, stderr } = await cli(['connect', echo.origin, '--send', 'x'.repeat(17), '--expect', '1']);
    expect(stdout).toMatch(/\* closed by the server: 1009 \(message too big\)\n/);
    expect(stderr).toContain('* The connection closed after 0 of the 1 expected messages');
    expect(status).toBe(5);
    await echo.cli.waitFor('stdout', /#1 error Max payload size exceeded/);
  });

  it('negotiates permessage-deflate only with --compression on both sides', async () => {
    const plain = await startEcho();
    const declined = await cli(['connect', plain.origin, '--compression', '--expect', '0']);
    expect(declined.stderr).toContain('> Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits');
    expect(declined.stderr).toContain('* Extensions: none (permessage-deflate offered, the server declined)');

    const compressing = await startEcho(['--compression']);
    const { status, stdout, stderr } = await cli([
      'connect',
      compressing.origin,
      '--compression',
      '--send',
      'y'.repeat(5000),
      '--expect',
      '1',
    ]);
    expect(status).toBe(0);
    expect(stderr).toMatch(/^< Sec-WebSocket-Extensions: permessage-deflate/m);
    expect(stderr).toMatch(/^\* Extensions: permessage-deflate/m);
    expect(stdout).toContain(`< ${'y'.repeat(5000)}\n`);
    await compressing.cli.waitFor('stdout', /#1 open .*extensions: permessage-deflate/);
  });

  it('on SIGTERM closes its clients with 1001 and exits 0', async () => {
    const echo = await startEcho();
    const client = new Cli(['connect', echo.origin]);
    await client.waitFor('stderr', /\* Connected\. Type a message/);
    await echo.cli.waitFor('stdout', /#1 open/);
    echo.cli.kill('SIGTERM');
    await client.waitFor('stdout', /\* closed by the server: 1001 \(going away\) "Server shutting down"/);
    expect(await client.exited).toBe(0);
    expect(await echo.cli.exited).toBe(0);
    expect(echo.cli.stdout).toMatch(
      /SIGTERM: shutting down, closing 1 connection with 1001\n.*#1 closed 1001 \(going away\)/,
    );
  });

  it('says so when the port is taken', async () => {
    const echo = await startEcho();
    const { status, stderr } = await cli(['echo', '--port', String(echo.port), '--host', '127.0.0.1']);
    expect(status).toBe(1);
    expect(stderr).toBe(
      `switchyard echo: port ${echo.port} is already in use; pick another with --port (--port 0 takes any free port)\n`,
    );
  });
});

describe('switchyard echo --token', () => {
  it('answers 401 with WWW-Authenticate and its message, which connect shows and explains', async () => {
    const echo = await startEcho(['--token', 's3cret']);
    const { status, stdout, stderr } = await cli(['connect', `${echo.origin}/`, '--expect', '0']);
    expect(status).toBe(3);
    expect(stdout).toBe('');
    expect(stderr).toContain('< HTTP/1.1 401 Unauthorized\n< WWW-Authenticate: Bearer realm="switchyard echo"\n');
    expect(stderr).toContain(
      '<\nA token is required: send "Authorization: Bearer <token>" or add ?token=<token> to the URL\n',
    );
    expect(stderr).toContain(
      '* Handshake failed: the server answered 401 Unauthorized instead of 101 Switching Protocols\n',
    );
    expect(stderr).toContain("Send them with -H 'Authorization: Bearer TOKEN'");
    await echo.cli.waitFor('stdout', /401 \/ from 127\.0\.0\.1: no token/);
  });

  it('tells a wrong token from a missing one', async () => {
    const echo = await startEcho(['--token', 's3cret']);
    const { status, stderr } = await cli(['connect', echo.origin, '-H', 'Authorization: Bearer nope', '--expect', '0']);
    expect(status).toBe(3);
    expect(stderr).toContain('< WWW-Authenticate: Bearer realm="switchyard echo", error="invalid_token"\n');
    expect(stderr).toContain('The token is not valid\n');
    await echo.cli.waitFor('stdout', /401 \/ from 127\.0\.0\.1: wrong token/);
  });

  it('accepts the token as a Bearer header or as ?token=, and keeps it out of the log', async () => {
    const echo = await startEcho(['--token', 's3cret']);
    const viaHeader = await cli([
      'connect',
      echo.origin,
      '-H',
      'Authorization: Bearer s3cret',
      '--send',
      'a',
      '--expect',
      '1',
    ]);
    expect(viaHeader.status).toBe(0);
    expect(viaHeader.stderr).toContain('> Authorization: Bearer s3cret\n');
    const viaQuery = await cli(['connect', `${echo.origin}/?token=s3cret&room=2`, '--send', 'b', '--expect', '1']);
    expect(viaQuery.status).toBe(0);
    await echo.cli.waitFor('stdout', /#2 open from 127\.0\.0\.1, GET \/\?token=\*\*\*&room=2/);
    expect(echo.cli.stdout).not.toContain('s3cret');
  });
});

describe('switchyard echo logs every refusal', () => {
  it("core's own refusals (here, a subprotocol it doesn't speak) are logged with their reason", async () => {
    const echo = await startEcho(['--protocol', 'chat']);
    const mqtt = await cli(['connect', echo.origin, '--protocol', 'mqtt', '--expect', '0']);
    expect(mqtt.status).toBe(3);
    await echo.cli.waitFor(
      'stdout',
      /400 GET \/ from 127\.0\.0\.1: Unsupported subprotocol: the client offered mqtt; this endpoint speaks chat/,
    );
  });

  it('accepts a bearer token as a base64url.bearer subprotocol entry, as browsers send it', async () => {
    const echo = await startEcho(['--token', 's3cret', '--protocol', 'chat']);
    const entry = `base64url.bearer.${Buffer.from('s3cret').toString('base64url')}`;
    const ok = await cli([
      'connect',
      echo.origin,
      '--protocol',
      'chat',
      '--protocol',
      entry,
      '--send',
      'a',
      '--expect',
      '1',
    ]);
    expect(ok.status).toBe(0);
    expect(ok.stderr).toContain('< Sec-WebSocket-Protocol: chat\n');
  });
});

describe('switchyard echo over TLS', () => {
  it('--tls serves wss:// that connect accepts with --insecure, showing the certificate', async () => {
    const echo = await startEcho(['--tls']);
    expect(echo.origin).toMatch(/^wss:/);
    const fingerprint = /certificate SHA-256: (\S+)/.exec(echo.cli.stdout)?.[1];
    expect(fingerprint).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    const { status, stdout, stderr } = await cli([
      'connect',
      echo.origin,
      '--insecure',
      '--send',
      'secret',
      '--expect',
      '1',
    ]);
    expect(status).toBe(0);
    expect(stdout).toMatch(/ < secret\n/);
    expect(stderr).toMatch(/^\* TLS: TLSv1\.[23], /m);
    expect(stderr).toContain(`* Certificate SHA-256 fingerprint: ${fingerprint}\n`);
    expect(stderr).toContain(
      '* Certificate NOT verified (DEPTH_ZERO_SELF_SIGNED_CERT): accepted because of --insecure\n',
    );
  });

  it('without --insecure, connect refuses the self-signed certificate and says what to do', async () => {
    const echo = await startEcho(['--tls']);
    const { status, stderr } = await cli(['connect', echo.origin, '--expect', '0']);
    expect(status).toBe(3);
    // Newer Node versions append a hint about --use-system-ca to the message.
    expect(stderr).toMatch(/^\* Handshake failed: self-signed certificate.*\(DEPTH_ZERO_SELF_SIGNED_CERT\)$/m);
    expect(stderr).toContain('pass --insecure to skip verification');
    expect(stderr).not.toContain('> GET');
  });

  it('--cert and --key serve the given certificate', async () => {
    const pems = await generate([{ name: 'commonName', value: 'switchyard-test' }], {
      keyType: 'ec',
      algorithm: 'sha256',
    });
    const dir = mkdtempSync(join(tmpdir(), 'switchyard-cli-'));
    writeFileSync(join(dir, 'cert.pem'), pems.cert);
    writeFileSync(join(dir, 'key.pem'), pems.private);
    const echo = await startEcho(['--cert', join(dir, 'cert.pem'), '--key', join(dir, 'key.pem')]);
    const { status, stderr } = await cli(['connect', echo.origin, '-k', '--expect', '0']);
    expect(status).toBe(0);
    expect(stderr).toContain(`* Certificate SHA-256 fingerprint: ${new X509Certificate(pems.cert).fingerprint256}\n`);
    expect(stderr).toContain('* Server certificate: CN=switchyard-test, issued by CN=switchyard-test');
  });

  it('says which file it cannot read', async () => {
    const { status, stderr } = await cli([
      'echo',
      '--port',
      '0',
      '--cert',
      '/nonexistent/cert.pem',
      '--key',
      '/nonexistent/key.pem',
    ]);
    expect(status).toBe(1);
    expect(stderr).toMatch(/^switchyard echo: cannot read \/nonexistent\/(cert|key)\.pem: no such file\n$/);
  });
});
