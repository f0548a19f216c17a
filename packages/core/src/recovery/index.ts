/**
 * Resumable connections: the endpoint's `recovery` option, on a durable hub
 * (`redisHub({ durable })`).
 *
 * A durable hub keeps each topic in a stream whose entries have an id and an epoch (the epoch
 * changes when the stream is reset). A client that asks for recovery (the switchyard client's
 * `recover: true`: `__sy_resume=1` in the URL, a flag and never a secret) speaks first, with one
 * text message, `\0sy:resume` and a JSON token: its session id and, per topic, the last position
 * it was sent. The token travels in a message rather than a header because browsers cannot set
 * WebSocket headers, and not in the URL because URLs end up in access logs.
 *
 * The session lives in the hub's backend for `maxDisconnectionDuration` after the connection
 * ends (refreshed while it is open, so a crashed node's sessions survive it). It is not taken
 * by a resume: a client that gave up on a slow attempt and tried again finds it still there,
 * while the server may not have seen the first attempt end yet. The `open` hook runs after the token was checked, with
 * `ws.recovered` set. When the app subscribes to a topic the token names, the missed entries are
 * replayed first, then live delivery goes on, in stream order and without duplicates, because
 * a recovering connection only ever gets entries newer than the last one it was sent.
 *
 * Frames to a recovering connection (all text frames start with U+0000, a prefix the app must
 * not use on these connections):
 *   `\0sy:m` + JSON [topic, id, epoch] + `\n` + payload      a topic message (binary: same bytes)
 *   `\0sy:session` + JSON { id, recovered, unrecoverable }   once, after `open`
 *   `\0sy:position` + JSON { topic, id, epoch }              where a subscription starts
 *   `\0sy:unrecoverable` + JSON { topic, reason, id, epoch } a gap that can no longer be filled
 *   `\0sy:off` + JSON { topic }                              an unsubscription
 */
export { durableStoreOf, resolveRecovery } from './options.js';
export type {
  DurableEntry,
  DurableStore,
  RecoveryOptions,
  ResolvedRecovery,
  StreamPosition,
  UnrecoverableReason,
} from './options.js';
export { compareIds, MAX_TOKEN_BYTES, parseToken, RESUME_HEADER, RESUME_PREFIX } from './token.js';
export { deliverDurable, isRecovered, senderIdOf } from './state.js';
export type { EnvelopeCache } from './state.js';
export { awaitResume, refuseResume, resumeUnavailable, sseResume } from './sessions.js';
export type { RecoveryHost } from './sessions.js';
export { subscribed, unsubscribed } from './replay.js';
