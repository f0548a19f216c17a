import { describe, expect, it } from 'vitest';
import { RequestInfo } from '../src/handshake/request.js';

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

  it('reads the address from a socket once, when first asked, and keeps it', () => {
    let reads = 0;
    const socket = {
      get remoteAddress() {
        reads++;
        return reads === 1 ? '10.0.0.7' : undefined;
      },
    };
    const info = new RequestInfo('/', {}, socket);
    expect(reads).toBe(0);
    expect(info.remoteAddress).toBe('10.0.0.7');
    expect(info.remoteAddress).toBe('10.0.0.7');
    expect(info.toJSON().remoteAddress).toBe('10.0.0.7');
    expect(reads).toBe(1);
  });
});
