/**
 * The keys of a Connection's own internal slots, in one place (as Fastify's lib/symbols.js).
 * Symbols rather than private fields so that a slot exists only on the connections that use it
 * (an idle connection stays small), and so that tests can reach the transport under a
 * connection. Only connection/connection.ts reads or writes these slots; what the endpoint's
 * policies track per connection is in its PolicyState (connection/policy.ts), under kPolicy.
 */
export const kWs = Symbol('switchyard.ws');
export const kHost = Symbol('switchyard.host');
/** The connection's PolicyState (connection/policy.ts). */
export const kPolicy = Symbol('switchyard.policy');
export const kPings = Symbol('switchyard.pings');
export const kNeedDrain = Symbol('switchyard.needDrain');
export const kTopics = Symbol('switchyard.topics');
export const kQueue = Symbol('switchyard.queue');
export const kClosedByServer = Symbol('switchyard.closedByServer');
/** `drain()` promises waiting for room. */
export const kDrainWaiters = Symbol('switchyard.drainWaiters');
/** On the SSE fallback: POSTs held while a loop is behind. */
export const kReadWaiters = Symbol('switchyard.readWaiters');
/** Listeners of faye-style code. */
export const kEmitter = Symbol('switchyard.emitter');
/** The close code switchyard sent because the peer broke the protocol (ws stops reading after it). */
export const kSentCode = Symbol('switchyard.sentCode');
/** Where a socket (or the socket under it) points back at its connection. */
export const kConnection = Symbol('switchyard.connection');
