/**
 * The `switchyard` command line: `echo` and `connect`. `bin/switchyard.js` calls {@link main};
 * the rest is exported for programs that want an echo server of their own.
 */
import { createRequire } from 'node:module';
import type { Readable } from 'node:stream';
import { UsageError } from './args.js';
import { runConnect } from './connect.js';
import { runEcho } from './echo.js';
import { ExitCode } from './exit-codes.js';
import { CONNECT_HELP, ECHO_HELP, MAIN_HELP } from './help.js';
import { Output } from './output.js';
import type { ConsoleStream } from './output.js';

export { ExitCode } from './exit-codes.js';
export type { ExitStatus } from './exit-codes.js';
export { startEchoServer } from './echo.js';
export type { EchoOptions, EchoServer } from './echo.js';
export { Output } from './output.js';

/** The streams a run reads and writes; the process's own by default. */
export interface Streams {
  stdin: Readable & { isTTY?: boolean };
  stdout: ConsoleStream;
  stderr: ConsoleStream;
}

const HELP: Record<string, string> = { echo: ECHO_HELP, connect: CONNECT_HELP };

function version(): string {
  return (createRequire(import.meta.url)('../package.json') as { version: string }).version;
}

/** Runs the command line `args` (without `node` and the script); resolves with the exit status. */
export async function main(args: string[], streams: Streams = process): Promise<number> {
  const output = new Output(streams.stdout, streams.stderr);
  const [command, ...rest] = args;
  try {
    switch (command) {
      case 'echo':
        return await runEcho(rest, output);
      case 'connect':
        return await runConnect(rest, output, streams.stdin);
      case undefined:
      case '-h':
      case '--help':
        output.print(MAIN_HELP);
        return ExitCode.OK;
      case 'help': {
        const topic = rest[0];
        if (topic !== undefined && !HELP[topic]) throw new UsageError(`no such command: ${topic}`);
        output.print(topic ? HELP[topic]! : MAIN_HELP);
        return ExitCode.OK;
      }
      case '-v':
      case '--version':
        output.print(version());
        return ExitCode.OK;
      default:
        throw new UsageError(command.startsWith('-') ? `unknown option ${command}` : `no such command: ${command}`);
    }
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    const known = command !== undefined && HELP[command] ? ` ${command}` : '';
    output.note(`switchyard${known}: ${error.message}`);
    output.note(`Run "switchyard${known} --help" for usage.`);
    return ExitCode.USAGE;
  }
}
