/**
 * `Connection.ping()`: a ping whose promise resolves with the round-trip time once the pong
 * with the same payload comes back (matched in connection-events.ts).
 */
import { ErrorCode, withCode } from '../errors.js';
import type { Connection } from './connection.js';
import { kPings, kWs } from './symbols.js';

/** `Connection.ping`: see there. */
export function sendPing(connection: Connection<any, any, any>, data?: string | Buffer): Promise<number> {
  const ws = connection[kWs];
  let promise: Promise<number>;
  if (ws.readyState !== 1) {
    promise = Promise.reject(withCode(new Error('WebSocket is not open'), ErrorCode.NOT_OPEN));
  } else {
    const pings = (connection[kPings] ??= []);
    const payload =
      data === undefined ? Buffer.from(`sy${performance.now().toFixed(3)}:${pings.length}`) : Buffer.from(data);
    promise =
      payload.length > 125
        ? Promise.reject(withCode(new RangeError('ping data must be at most 125 bytes'), ErrorCode.PING_TOO_LONG))
        : new Promise<number>((resolve, reject) => {
            pings.push({ payload, sentAt: performance.now(), resolve, reject });
            ws.ping(payload);
          });
  }
  promise.catch(ignore);
  return promise;
}

function ignore(): void {}
