import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EventStreamParser } from '../src/event-stream.js';

/** Feeds `chunks` to a fresh parser and returns its events as `type|data|id`. */
function parse(chunks: string[], lastEventId?: string): { events: string[]; parser: EventStreamParser } {
  const parser = new EventStreamParser(lastEventId);
  const events = chunks.flatMap((chunk) => parser.feed(chunk)).map((e) => `${e.type}|${e.data}|${e.id}`);
  return { events, parser };
}

describe('EventStreamParser', () => {
  const cases: Array<{ name: string; chunks: string[]; events: string[] }> = [
    { name: 'one message', chunks: ['data: "hi"\n\n'], events: ['message|"hi"|'] },
    { name: 'named event with id', chunks: ['id: 3\nevent: binary\ndata: AAEC\n\n'], events: ['binary|AAEC|3'] },
    { name: 'several data lines join with LF', chunks: ['data: a\ndata: b\ndata:\n\n'], events: ['message|a\nb\n|'] },
    { name: 'no space after the colon', chunks: ['data:x\n\n'], events: ['message|x|'] },
    { name: 'only one leading space is removed', chunks: ['data:  x\n\n'], events: ['message| x|'] },
    { name: 'CRLF line ends', chunks: ['id: 1\r\ndata: x\r\n\r\n'], events: ['message|x|1'] },
    { name: 'CR line ends', chunks: ['id: 1\rdata: x\r\r'], events: ['message|x|1'] },
    { name: 'CRLF split between chunks', chunks: ['data: x\r', '\n\r', '\n'], events: ['message|x|'] },
    { name: 'a CR then an empty chunk then LF', chunks: ['data: x\r', '', '\n\r\n'], events: ['message|x|'] },
    { name: 'a line split between chunks', chunks: ['da', 'ta: "he', 'llo"\n', '\n'], events: ['message|"hello"|'] },
    { name: 'comments are ignored', chunks: [':\n\n: heartbeat\ndata: x\n\n'], events: ['message|x|'] },
    { name: 'an event without data is not dispatched', chunks: ['event: open\n\ndata: x\n\n'], events: ['message|x|'] },
    {
      name: 'the type resets after each event',
      chunks: ['event: ping\ndata: a\n\ndata: b\n\n'],
      events: ['ping|a|', 'message|b|'],
    },
    { name: 'unknown fields are ignored', chunks: ['foo: bar\ndata: x\n\n'], events: ['message|x|'] },
    { name: 'a field name alone', chunks: ['data\n\n'], events: ['message||'] },
    {
      name: 'an id with NUL is ignored',
      chunks: ['id: 1\ndata: a\n\nid: 2\0\ndata: b\n\n'],
      events: ['message|a|1', 'message|b|1'],
    },
    {
      name: 'the id carries over to later events',
      chunks: ['id: 7\ndata: a\n\ndata: b\n\n'],
      events: ['message|a|7', 'message|b|7'],
    },
    {
      name: 'an incomplete event at the end is not dispatched',
      chunks: ['data: a\n\ndata: b\n'],
      events: ['message|a|'],
    },
    {
      name: 'many events in one chunk',
      chunks: ['id: 1\ndata: "1"\n\nid: 2\ndata: "2"\n\nid: 3\nevent: close\ndata: {}\n\n'],
      events: ['message|"1"|1', 'message|"2"|2', 'close|{}|3'],
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      expect(parse(c.chunks).events).toEqual(c.events);
    });
  }

  it('any split of a stream into chunks gives the same events as the whole (generated streams and cuts)', () => {
    const line = fc.oneof(
      fc.string({ maxLength: 40 }).map((text) => `data: ${text.replace(/[\r\n]/g, ' ')}`),
      fc.nat(999).map((id) => `id: ${id}`),
      fc.constantFrom('event: binary', ':', '', 'retry: 20', 'data'),
      fc.nat(3).map((n) => `data: ${'x'.repeat(20_000 * n)}`),
    );
    const stream = fc
      .tuple(fc.array(fc.tuple(line, fc.constantFrom('\n', '\r', '\r\n')), { maxLength: 30 }))
      .map(([lines]) => lines.map(([text, end]) => text + end).join(''));
    fc.assert(
      fc.property(stream, fc.array(fc.nat(), { maxLength: 20 }), (text, cuts) => {
        const points = [...new Set(cuts.map((cut) => cut % (text.length + 1)))].sort((a, b) => a - b);
        const chunks = [0, ...points].map((start, i) => text.slice(start, [...points, text.length][i]));
        expect(parse(chunks).events).toEqual(parse([text]).events);
      }),
      { numRuns: 300 },
    );
  });

  it('retry: only all-digit values count', () => {
    expect(parse(['retry: 2500\n\n']).parser.retry).toBe(2500);
    expect(parse(['retry: 2500\nretry: 1e3\nretry: -1\nretry: 12ms\n\n']).parser.retry).toBe(2500);
    expect(parse(['data: x\n\n']).parser.retry).toBeUndefined();
  });

  it('lastEventId moves only when an event is dispatched, so a cut-off event is asked for again', () => {
    const { parser } = parse(['id: 4\ndata: "a"\n\nid: 5\ndata: "b'], '3');
    expect(parser.lastEventId).toBe('4');
    expect(parser.feed('"\n')).toEqual([]);
    expect(parser.lastEventId).toBe('4');
    expect(parser.feed('\n')).toEqual([{ type: 'message', data: '"b"', id: '5' }]);
    expect(parser.lastEventId).toBe('5');
  });

  it("starts from the previous stream's last event id", () => {
    expect(parse(['data: x\n\n'], '41').events).toEqual(['message|x|41']);
    expect(new EventStreamParser('41').lastEventId).toBe('41');
  });

  it('an id-only event moves lastEventId without dispatching', () => {
    const { events, parser } = parse(['id: 9\n\n']);
    expect(events).toEqual([]);
    expect(parser.lastEventId).toBe('9');
  });

  it('every split of a stream gives the same events', () => {
    const stream =
      'retry: 1000\r\n\r\nid: 1\r\nevent: open\r\ndata: {"session":"s"}\r\n\r\n:\r\n\r\nid: 2\rdata: "x\\ny"\r\rid: 3\nevent: binary\ndata: AAE=\n\n';
    const whole = parse([stream]).events;
    expect(whole).toEqual(['open|{"session":"s"}|1', 'message|"x\\ny"|2', 'binary|AAE=|3']);
    for (let i = 0; i <= stream.length; i++) {
      for (const j of [i, Math.min(stream.length, i + 1), Math.min(stream.length, i + 7)]) {
        expect(parse([stream.slice(0, i), stream.slice(i, j), stream.slice(j)]).events, `split at ${i}/${j}`).toEqual(
          whole,
        );
      }
    }
  });
});
