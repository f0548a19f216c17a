/**
 * The error policy of hook dispatch: what becomes of a failure once hooks.ts has caught it. A
 * handler's error goes to the diagnostics channel and the `error` hook, or else to the log; a
 * broken peer is told to listeners and the hook but never logged; a failing `error` hook or
 * listener is only logged.
 */
import type { Connection } from '../connection/connection.js';
import { channels } from '../diagnostics.js';
import type { Hooks } from './options-types.js';

/** True for a promise or anything else with a `then`. */
export function isThenable(value: unknown): value is PromiseLike<unknown> {
  return value !== null && typeof value === 'object' && typeof (value as PromiseLike<unknown>).then === 'function';
}

/** Publishes an error on the diagnostics channel, while it has subscribers. */
export function publishError(connection: Connection<any, any, any> | undefined, error: Error): void {
  if (!channels.error.hasSubscribers) return;
  // An ErrorMessage (diagnostics-messages.ts).
  const message = { connection, error };
  channels.error.publish(message);
}

/** The last resort for an error no hook took. */
export function logError(connection: Connection<any, any, any> | undefined, error: unknown): void {
  const where = connection ? ` on ${connection.request.path}` : '';
  console.error(`[switchyard] handler error${where}:`, error);
}

/** A handler failed: the diagnostics channel, then the `error` hook, or the log without one. */
export function reportError(
  hooks: Hooks<any>,
  connection: Connection<any, any, any> | undefined,
  error: unknown,
): void {
  const err = error instanceof Error ? error : new Error(String(error));
  publishError(connection, err);
  const hook = hooks.error;
  try {
    if (hook) {
      const result = hook(connection, err);
      if (isThenable(result)) result.then(undefined, (hookError: unknown) => logError(connection, hookError));
      return;
    }
  } catch (hookError) {
    logError(connection, hookError);
    return;
  }
  logError(connection, err);
}

/** The peer broke the protocol: listeners and the `error` hook hear of it, nothing is logged. */
export function reportPeerError(hooks: Hooks<any>, connection: Connection<any, any, any>, error: Error): void {
  publishError(connection, error);
  // The peer broke the protocol; ws already closes with 1002/1007/1009. Not logged by
  // default: a misbehaving client must not be able to flood the server's logs.
  if (connection.listenerCount('error') > 0) {
    try {
      connection.emit('error', error);
    } catch (listenerError) {
      // Thrown into ws's receiver, it would be an uncaught exception.
      logError(connection, listenerError);
    }
  }
  const hook = hooks.error;
  if (hook) {
    try {
      const result = hook(connection, error);
      if (isThenable(result)) result.then(undefined, (hookError: unknown) => logError(connection, hookError));
    } catch (hookError) {
      logError(connection, hookError);
    }
  }
}
