/**
 * The TypeScript and JavaScript blocks of README.md and docs/*.md, as files: each block becomes a
 * module of its own, compiled together with tsc (strict) and then run.
 *
 * A block may be preceded by one HTML comment that says how to run it:
 *
 *   <!-- snippet: listen -->          a server: it must start listening (the default)
 *   <!-- snippet: connect /path -->   a server: open a WebSocket to /path, then close
 *   <!-- snippet: echo /path -->      a server: /path must echo text and binary unchanged
 *   <!-- snippet: refuse /path 401 -->  a server: a handshake to /path gets this HTTP status
 *
 * Several server checks go in one comment, separated by `;`.
 *   <!-- snippet: file app.ts -->     a module other blocks import ('./app.js'); not run alone
 *   <!-- snippet: exits -->           a program that must finish with exit status 0
 *
 * Without one, the block must start listening (or finish with status 0) without failing.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

export type Check =
  | { kind: 'listen' }
  | { kind: 'connect'; path: string }
  | { kind: 'echo'; path: string }
  | { kind: 'refuse'; path: string; status: number }
  | { kind: 'module' }
  | { kind: 'exits' };

export interface Snippet {
  /** Where it comes from, e.g. `docs/express.md:42`. */
  source: string;
  /** The file it is written to, e.g. `docs-express-42.ts`. */
  file: string;
  code: string;
  /** What to check, in order; several checks in one comment are separated by `;`. */
  checks: Check[];
}

const LANGUAGES: Record<string, 'ts' | 'js'> = { ts: 'ts', typescript: 'ts', js: 'js', javascript: 'js', mjs: 'js' };

/** README.md and every docs/*.md. */
export function documentationFiles(): string[] {
  const docs = readdirSync(join(ROOT, 'docs'))
    .filter((name) => name.endsWith('.md'))
    .sort()
    .map((name) => join(ROOT, 'docs', name));
  return [join(ROOT, 'README.md'), ...docs];
}

function parseCheck(annotation: string, source: string): { check: Check; file?: string } {
  const [verb, argument, extra] = annotation.trim().split(/\s+/);
  switch (verb) {
    case 'listen':
      return { check: { kind: 'listen' } };
    case 'connect':
    case 'echo':
      if (!argument?.startsWith('/')) throw new Error(`${source}: "snippet: ${verb}" needs a path`);
      return { check: { kind: verb, path: argument } };
    case 'refuse':
      if (!argument?.startsWith('/') || !/^[45]\d\d$/.test(extra ?? ''))
        throw new Error(`${source}: "snippet: refuse" needs a path and a status`);
      return { check: { kind: 'refuse', path: argument, status: Number(extra) } };
    case 'file':
      if (!argument || !/^[\w.-]+\.(ts|js)$/.test(argument))
        throw new Error(`${source}: "snippet: file" needs a file name like app.ts`);
      return { check: { kind: 'module' }, file: argument };
    case 'exits':
      return { check: { kind: 'exits' } };
    default:
      throw new Error(`${source}: unknown snippet annotation "${annotation}"`);
  }
}

function parseChecks(annotation: string | undefined, source: string): { checks: Check[]; file?: string } {
  if (annotation === undefined) return { checks: [{ kind: 'listen' }] };
  const parsed = annotation.split(';').map((part) => parseCheck(part, source));
  const file = parsed.find((p) => p.file !== undefined)?.file;
  return { checks: parsed.map((p) => p.check), ...(file === undefined ? {} : { file }) };
}

/** Every ts/js block of one markdown file. */
export function extractSnippets(path: string): Snippet[] {
  const lines = readFileSync(path, 'utf8').split('\n');
  const name = relative(ROOT, path);
  const snippets: Snippet[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)```(\w+)\s*$/.exec(lines[i]!);
    if (!open) continue;
    const indent = open[1]!.length;
    let end = i + 1;
    while (end < lines.length && !/^\s*```\s*$/.test(lines[end]!)) end++;
    const language = LANGUAGES[open[2]!.toLowerCase()];
    if (language) {
      const source = `${name}:${i + 1}`;
      const annotation = /^\s*<!--\s*snippet:(.*?)-->\s*$/.exec(lines[i - 1] ?? '')?.[1];
      const { checks, file } = parseChecks(annotation, source);
      const stem = name
        .replace(/\.md$/i, '')
        .replace(/[^\w]+/g, '-')
        .toLowerCase();
      snippets.push({
        source,
        file: file ?? `${stem}-${i + 1}.${language}`,
        code: `${lines
          .slice(i + 1, end)
          .map((line) => line.slice(indent))
          .join('\n')}\n`,
        checks,
      });
    }
    i = end;
  }
  return snippets;
}

/**
 * Loaded with `node --import` before a snippet: every `listen()` gets port 0 instead of the
 * snippet's 3000, and the address it got is sent to the test over IPC.
 */
export const PRELOAD = `
import net from 'node:net';
// The IPC channel must not keep a program that has finished alive.
process.channel?.unref();
const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  if (typeof args[0] === 'number' || (typeof args[0] === 'string' && /^\\d+$/.test(args[0]))) args[0] = 0;
  else if (args[0] !== null && typeof args[0] === 'object' && 'port' in args[0]) args[0] = { ...args[0], port: 0 };
  this.once('listening', () => {
    const address = this.address();
    if (address !== null && typeof address === 'object') process.send?.({ address: address.address, port: address.port });
  });
  return listen.apply(this, args);
};
`;
