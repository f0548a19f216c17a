/** Subscriptions of a recoverable connection: replay what was missed, then live. */
import { CloseCode } from '../protocol.js';
import type { Connection } from '../connection/connection.js';
import { transportOf } from '../connection/connection.js';
import type { StreamPosition } from './options.js';
import { sharedReadsOf } from './shared-reads.js';
import { corkWrites } from '../internals/ws.js';
import { control, sendEntry, states } from './state.js';
import type { RecoveryState } from './state.js';
import { compareIds } from './token.js';

/** Replay pauses while this many bytes wait in the socket. */
const REPLAY_BUFFER = 1024 * 1024;
const REPLAY_PAGE = 200;

/** A recoverable connection subscribed to `topic`: replay what it missed, or tell it where it starts. */
export function subscribed(connection: Connection<any, any, any>, topic: string): void {
  const state = states.get(transportOf(connection));
  if (!state) return;
  const from = state.pending.get(topic);
  state.pending.delete(topic);
  state.held.set(topic, []);
  const started = start(connection, state, topic, from).catch(() => {
    // The store failed mid-replay: the client resumes again, from what it was sent.
    state.held.delete(topic);
    connection.close(CloseCode.TRY_AGAIN_LATER, 'Replay failed; resume again');
  });
  state.starting?.push(started);
}

/** A recoverable connection left `topic`: its client forgets the position. */
export function unsubscribed(connection: Connection<any, any, any>, topic: string): void {
  const state = states.get(transportOf(connection));
  if (!state) return;
  state.sent.delete(topic);
  state.held.delete(topic);
  control(state.ws, 'off', { topic });
}

async function start(
  connection: Connection<any, any, any>,
  state: RecoveryState,
  topic: string,
  from: StreamPosition | undefined,
): Promise<void> {
  const { hub, store, ws } = state;
  let at = store.position(topic);
  if (!at) {
    await hub.whenSubscribed(topic).catch(() => {});
    at = store.position(topic);
  }
  const still = (): boolean => ws.readyState === 1 && state.held.has(topic);
  if (!at) {
    // The backend is unreachable: live delivery starts whenever it is back. A resumed position
    // is not given up for that: before its session frame, the client resumes again from it.
    state.held.delete(topic);
    if (from) connection.close(CloseCode.TRY_AGAIN_LATER, 'Cannot reach the session store; resume again');
    return;
  }
  // Where this connection goes on live from: the node's read position, or the client's own if
  // it is further on in the same epoch (this node's reader lags behind the node the client came
  // from). A resumed connection never moves back before what the client has.
  let base = at;
  let unrecoverable = false;
  if (from) {
    const reason =
      from.epoch === at.epoch || (from.id === '0-0' && from.epoch === '') ? await store.check(topic, from) : 'reset';
    if (!still()) return;
    if (reason !== 'reset' && compareIds(from.id, at.id) > 0) base = from;
    const gap = at.count - from.count;
    const why = reason ?? (gap > state.settings.maxReplay ? 'too-far-behind' : undefined);
    unrecoverable = why !== undefined;
    if (why) {
      control(ws, 'unrecoverable', { topic, reason: why, id: base.id, epoch: base.epoch, count: base.count });
    } else {
      state.sent.set(topic, from);
      // The resumes of this topic on this node share their reads (shared-reads.ts).
      const reads = sharedReadsOf(store);
      let after = from.id;
      while (compareIds(after, at.id) < 0) {
        const page = await reads.range(topic, after, at.id, REPLAY_PAGE);
        if (!still()) return;
        if (page.length === 0) break;
        corkWrites(ws, () => {
          for (const entry of page) {
            sendEntry(connection, state, topic, entry);
            after = entry.id;
          }
        });
        // A reader that does not read holds the replay, not the server's memory.
        while (ws.readyState === 1 && ws.bufferedAmount > REPLAY_BUFFER)
          await new Promise((resolve) => setTimeout(resolve, 10));
        if (!still()) return;
      }
    }
  }
  // The position, and the live entries held behind the replay, leave together.
  corkWrites(ws, () => {
    // Without a resumed position, `base` is the node's own.
    if (!unrecoverable) control(ws, 'position', { topic, id: base.id, epoch: base.epoch, count: base.count });
    // Live delivery goes on strictly after `base` (or after the last replayed entry, if later).
    const sent = state.sent.get(topic);
    if (!sent || compareIds(sent.id, base.id) < 0) state.sent.set(topic, base);
    const held = state.held.get(topic)!;
    state.held.delete(topic);
    for (const entry of held) sendEntry(connection, state, topic, entry);
  });
}
