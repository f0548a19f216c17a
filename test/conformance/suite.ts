/**
 * The shared conformance suite. Every adapter runs it from a short test file:
 *
 *   runConformance(expressHarness);
 *
 * Real servers on 127.0.0.1:0, real frameworks, and real clients: the `ws` client, undici's
 * WebSocket, faye-websocket's client, and raw `net` sockets for byte-level checks.
 */
import { describe } from 'vitest';
import type { Harness } from '../harness.js';
import { useConformance } from './context.js';
import { describeServers } from './servers.js';
import { describeMiddleware } from './middleware.js';
import { describeHandshake } from './handshake.js';
import { describeHeartbeatTiming, describeHooks } from './hooks.js';
import { describeConnection } from './connection.js';
import { describeMessages } from './messages.js';
import { describeSocketState } from './socket-state.js';

export function runConformance(harness: Harness): void {
  describe(`${harness.name}: conformance`, () => {
    const conformance = useConformance(harness);
    describeServers(conformance);
    describeMiddleware(conformance);
    describeHandshake(conformance);
    describeHooks(conformance);
    describeConnection(conformance);
    describeMessages(conformance);
    describeSocketState(conformance);
  });
}

/** The conformance tests that bound how long something takes: run alone, from `*.serial.test.ts`. */
export function runConformanceTiming(harness: Harness): void {
  describe(`${harness.name}: conformance, timing`, () => {
    describeHeartbeatTiming(useConformance(harness));
  });
}
