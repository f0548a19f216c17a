/**
 * A connection's topics on the endpoint's hub: `subscribe`, `unsubscribe`, and leaving every
 * topic when it closes.
 */
import type { Connection } from './connection.js';
import { kHost, kTopics, kWs } from './symbols.js';
import { subscribed, unsubscribed } from '../recovery/index.js';

const EMPTY_TOPICS: ReadonlySet<string> = new Set();

/** `Connection.subscribe`: see there. */
export function subscribe(connection: Connection<any, any, any>, topic: string): void {
  if (connection[kWs].readyState > 1) return;
  if (connection[kHost].hub.add(connection as Connection<any>, topic)) {
    (connection[kTopics] ??= new Set()).add(topic);
    subscribed(connection, topic); // replays what a resumed connection missed (recovery/)
  }
}

/** `Connection.unsubscribe`: see there. */
export function unsubscribe(connection: Connection<any, any, any>, topic: string): void {
  if (connection[kHost].hub.remove(connection as Connection<any>, topic)) {
    connection[kTopics]!.delete(topic);
    unsubscribed(connection, topic);
  }
}

/** `Connection.topics`: see there. */
export function topicsOf(connection: Connection<any, any, any>): ReadonlySet<string> {
  return connection[kTopics] ?? EMPTY_TOPICS;
}

/** On close: the hub forgets the connection in every topic. */
export function leaveTopics(connection: Connection<any, any, any>): void {
  const topics = connection[kTopics];
  if (topics) {
    const { hub } = connection[kHost];
    for (const topic of topics) hub.remove(connection as Connection<any>, topic);
    connection[kTopics] = undefined;
  }
}
