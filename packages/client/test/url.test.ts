import { describe, expect, it } from 'vitest';
import { choiceKey, endpointUrls, withParams } from '../src/url.js';

describe('endpointUrls', () => {
  const cases: Array<[input: string, base: string | undefined, websocket: string, http: string]> = [
    ['ws://example.com/chat', undefined, 'ws://example.com/chat', 'http://example.com/chat'],
    ['wss://example.com/chat', undefined, 'wss://example.com/chat', 'https://example.com/chat'],
    [
      'http://example.com:8080/chat?room=1',
      undefined,
      'ws://example.com:8080/chat?room=1',
      'http://example.com:8080/chat?room=1',
    ],
    ['https://example.com/chat', undefined, 'wss://example.com/chat', 'https://example.com/chat'],
    ['https://example.com:443/chat', undefined, 'wss://example.com/chat', 'https://example.com/chat'],
    ['HTTPS://Example.COM/chat', undefined, 'wss://example.com/chat', 'https://example.com/chat'],
    ['/chat', 'https://example.com/app/page.html', 'wss://example.com/chat', 'https://example.com/chat'],
    [
      'chat?x=1',
      'http://127.0.0.1:3000/app/',
      'ws://127.0.0.1:3000/app/chat?x=1',
      'http://127.0.0.1:3000/app/chat?x=1',
    ],
    ['//other.example/chat', 'https://example.com/', 'wss://other.example/chat', 'https://other.example/chat'],
    ['ws://example.com/chat#frag', undefined, 'ws://example.com/chat', 'http://example.com/chat'],
    ['ws://example.com', undefined, 'ws://example.com/', 'http://example.com/'],
  ];
  for (const [input, base, websocket, http] of cases) {
    it(`${input}${base ? ` on ${base}` : ''}`, () => {
      const urls = endpointUrls(input, base);
      expect(urls.websocket.href).toBe(websocket);
      expect(urls.http.href).toBe(http);
    });
  }

  it('rejects what it cannot use, with fixed messages', () => {
    expect(() => endpointUrls('/chat')).toThrow(
      new TypeError('connect() needs an absolute URL, or a page to resolve a relative one against: /chat'),
    );
    expect(() => endpointUrls('ftp://example.com/chat')).toThrow(
      new TypeError('connect() takes ws:, wss:, http: or https: URLs, not ftp:'),
    );
  });
});

describe('withParams', () => {
  const url = (href: string): URL => new URL(href);
  const cases: Array<[href: string, params: Record<string, string | undefined>, result: string]> = [
    ['http://h/chat', { __sy: 'sse' }, 'http://h/chat?__sy=sse'],
    ['http://h/chat?name=a%20b+c', { __sy: 'sse' }, 'http://h/chat?name=a%20b+c&__sy=sse'],
    ['http://h/chat?', { __sy: '1' }, 'http://h/chat?__sy=1'],
    [
      'http://h/chat',
      { __sy: 'sse', __sy_protocols: 'soap,chat', __sy_session: undefined },
      'http://h/chat?__sy=sse&__sy_protocols=soap%2Cchat',
    ],
    [
      'http://h/chat?x=1',
      { __sy: 'post', __sy_session: 'a/b+c=' },
      'http://h/chat?x=1&__sy=post&__sy_session=a%2Fb%2Bc%3D',
    ],
  ];
  for (const [href, params, result] of cases) {
    it(`${href} + ${JSON.stringify(params)}`, () => {
      expect(withParams(url(href), params)).toBe(result);
    });
  }
});

describe('choiceKey', () => {
  it('is the endpoint without its query, which may hold a token', () => {
    expect(choiceKey(new URL('https://example.com/chat?token=secret'))).toBe(
      'switchyard:transport:https://example.com/chat',
    );
    expect(choiceKey(new URL('http://127.0.0.1:3000/chat'))).not.toBe(choiceKey(new URL('http://127.0.0.1:3001/chat')));
  });
});
