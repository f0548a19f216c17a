import { describe, expect, it } from 'vitest';
import { RequestInfo } from '../src/request.js';

describe('RequestInfo', () => {
  const cases: Array<[string, string, Record<string, string | string[]>]> = [
    ['/chat', '/chat', {}],
    ['/chat?room=a', '/chat', { room: 'a' }],
    ['/chat?room=a&room=b&x=%20y', '/chat', { room: ['a', 'b'], x: ' y' }],
    ['/?', '/', {}],
  ];
  for (const [url, path, query] of cases) {
    it(`${url}: path ${path}`, () => {
      const info = new RequestInfo(url, { origin: 'https://a.example' }, '127.0.0.1');
      expect(info.path).toBe(path);
      expect({ ...info.query }).toEqual(query);
      expect(info.origin).toBe('https://a.example');
      expect(info.toJSON()).toMatchObject({ url, path, remoteAddress: '127.0.0.1' });
    });
  }
});
