/**
 * Where lines go. Like `curl -v`, the conversation goes to stdout and the diagnostics (the
 * handshake transcript, explanations, errors) go to stderr, so that `2>/dev/null` leaves only
 * the messages. When a prompt is on screen, a line that arrives is written above it and the
 * prompt, with whatever the person had typed, is drawn again below.
 */
import { clearLine, cursorTo } from 'node:readline';
import type { Interface } from 'node:readline';
import type { Writable } from 'node:stream';
import { styleFor } from './format.js';
import type { Style } from './format.js';

/** A stream that may be a terminal. */
export type ConsoleStream = Writable & { isTTY?: boolean };

/** The two output streams of a command, with their colours. */
export class Output {
  /** Colours for stdout lines. */
  readonly style: Style;
  /** Colours for stderr lines. */
  readonly noteStyle: Style;
  /** The stream of the conversation; a prompt draws on it too. */
  readonly stdout: ConsoleStream;
  readonly #stderr: ConsoleStream;
  #prompt: Interface | undefined;

  constructor(stdout: ConsoleStream, stderr: ConsoleStream) {
    this.stdout = stdout;
    this.#stderr = stderr;
    this.style = styleFor(stdout);
    this.noteStyle = styleFor(stderr);
  }

  /** True when stdout is a terminal. */
  get interactive(): boolean {
    return this.stdout.isTTY === true;
  }

  /** A line of the conversation, to stdout. */
  print(line: string): void {
    this.#write(this.stdout, line);
  }

  /** A diagnostic line, to stderr. */
  note(line: string): void {
    this.#write(this.#stderr, line);
  }

  /** Keeps `prompt` drawn below every line written from now on; `undefined` stops. */
  keepPrompt(prompt: Interface | undefined): void {
    this.#prompt = prompt;
  }

  #write(stream: ConsoleStream, line: string): void {
    const prompt = this.#prompt;
    if (prompt && stream.isTTY) {
      clearLine(stream, 0);
      cursorTo(stream, 0);
    }
    stream.write(`${line}\n`);
    if (prompt && stream.isTTY) prompt.prompt(true);
  }
}
