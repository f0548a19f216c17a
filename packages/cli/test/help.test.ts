import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { cleanUpAfterEach, cli } from './harness.js';

cleanUpAfterEach();

describe('--help', () => {
  it('lists the commands', async () => {
    const { status, stdout } = await cli(['--help']);
    expect(status).toBe(0);
    expect(stdout).toMatch(/^Usage: switchyard <command>/);
    expect(stdout).toMatch(/^ {2}echo +run a WebSocket echo server/m);
    expect(stdout).toMatch(/^ {2}connect <url> +connect to a WebSocket server/m);
    expect(stdout).toContain('switchyard connect ws://localhost:8080');
  });

  it('is shown, without an error, when no command is given', async () => {
    const { status, stdout } = await cli([]);
    expect(status).toBe(0);
    expect(stdout).toMatch(/^Usage: switchyard <command>/);
  });

  it('documents every flag of echo, with examples', async () => {
    const { status, stdout } = await cli(['echo', '--help']);
    expect(status).toBe(0);
    for (const flag of [
      '--port',
      '--host',
      '--path',
      '--protocol',
      '--tls',
      '--cert',
      '--key',
      '--compression',
      '--max-payload',
      '--token',
      '--greet',
    ]) {
      expect(stdout).toContain(flag);
    }
    expect(stdout).toMatch(/^Examples:\n {2}switchyard echo\n/m);
    expect(stdout).toContain('switchyard echo --tls --token s3cret');
  });

  it('documents every flag, command and exit status of connect, with examples', async () => {
    const { status, stdout } = await cli(['connect', '--help']);
    expect(status).toBe(0);
    for (const flag of [
      '--header',
      '--protocol',
      '--origin',
      '--insecure',
      '--compression',
      '--send',
      '--expect',
      '--timeout',
    ]) {
      expect(stdout).toContain(flag);
    }
    for (const command of ['/ping [data]', '/close [code] [reason]', '/binary <hex>', '/quit'])
      expect(stdout).toContain(command);
    expect(stdout).toMatch(/^ {2}3 {2}handshake failed/m);
    expect(stdout).toMatch(/^ {2}4 {2}timed out/m);
    expect(stdout).toMatch(/^ {2}5 {2}closed abnormally/m);
    expect(stdout).toContain('switchyard connect ws://localhost:8080 --send hello --expect 1 --timeout 5');
  });

  it('answers "help <command>" like "<command> --help"', async () => {
    const [viaHelp, viaFlag] = await Promise.all([cli(['help', 'connect']), cli(['connect', '-h'])]);
    expect(viaHelp.status).toBe(0);
    expect(viaHelp.stdout).toBe(viaFlag.stdout);
  });

  it('prints the version of the package', async () => {
    const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
      version: string;
    };
    const { status, stdout } = await cli(['--version']);
    expect(status).toBe(0);
    expect(stdout.trim()).toBe(version);
  });
});

describe('usage errors exit with 2 and point to --help', () => {
  const cases: Array<[string[], RegExp]> = [
    [['frobnicate'], /^switchyard: no such command: frobnicate\nRun "switchyard --help" for usage\.\n$/],
    [['help', 'frobnicate'], /no such command: frobnicate/],
    [['echo', '--bogus'], /^switchyard echo: Unknown option '--bogus'/],
    [['echo', '--port', '70000'], /--port must be a whole number from 0 to 65535, got "70000"/],
    [['echo', '--port', '80a'], /--port must be a whole number/],
    [['echo', '--cert', 'cert.pem'], /--cert and --key go together/],
    [['echo', '--path', 'chat'], /--path must start with "\/"/],
    [['echo', '--max-payload', 'lots'], /--max-payload must be a size in bytes such as 65536, 64k or 1m, got "lots"/],
    [['echo', '--protocol', 'a b'], /--protocol: Unexpected character at index 1/],
    [['connect'], /^switchyard connect: connect needs a URL/],
    [['connect', 'ftp://example.com'], /the URL must start with ws:\/\/ or wss:\/\/, got ftp:\/\//],
    [['connect', 'ws://a', 'ws://b'], /connect takes one URL/],
    [['connect', '-H', 'no colon', 'ws://a'], /-H expects "Name: value", got "no colon"/],
    [['connect', '-H', 'Sec-WebSocket-Key: x', 'ws://a'], /-H cannot set Sec-WebSocket-Key: the client generates it/],
    [['connect', '--protocol', 'chat', '--protocol', 'chat', 'ws://a'], /Duplicate subprotocol "chat"/],
    [['connect', 'ws://localhost/#fragment'], /ws:\/\/localhost\/#fragment: The URL contains a fragment identifier/],
    [['connect', '--timeout', '0', 'ws://a'], /--timeout must be a positive number of seconds, got "0"/],
    [['connect', '--expect=-1', 'ws://a'], /--expect must be a whole number from 0 to \d+, got "-1"/],
  ];
  for (const [args, message] of cases) {
    it(`switchyard ${args.join(' ')}`, async () => {
      const { status, stdout, stderr } = await cli(args);
      expect(status).toBe(2);
      expect(stdout).toBe('');
      expect(stderr).toMatch(message);
      expect(stderr).toMatch(/Run "switchyard( echo| connect)? --help" for usage\./);
    });
  }
});
