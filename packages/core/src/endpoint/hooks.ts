/**
 * Hook dispatch: what runs for each event of a connection (its hook, then faye-style
 * listeners, or a running `for await` loop), after the rate limit and the schema. A handler
 * that throws or rejects closes only its own connection, with 1011; a close or error
 * listener's failure is only reported. Where a failure is reported to (the `error` hook, the
 * log, the diagnostics channel) is the error policy, in hooks-errors.ts.
 */
import { Buffer } from 'node:buffer';
import type { CloseEvent, Connection } from '../connection/connection.js';
import { deliverToLoop, policyOf } from '../connection/connection.js';
import type { OpenPart, RatePart } from '../connection/policy.js';
import { channels, publishLimit } from '../diagnostics.js';
import { isThenable, reportError, reportPeerError } from './hooks-errors.js';
import type { Hooks, ResolvedOptions } from './options-types.js';
import { CloseCode } from '../protocol.js';
import type { StandardSchemaV1 } from '../schema.js';
import { nestsDeeperThan, validateMessage } from '../schema.js';
import { ErrorCode, withCode } from '../errors.js';

/** Runs one endpoint's hooks for its connections. */
export class HookDispatch<Context> {
  readonly #hooks: Hooks<Context>;
  readonly #options: ResolvedOptions;

  constructor(hooks: Hooks<Context>, options: ResolvedOptions) {
    this.#hooks = hooks;
    this.#options = options;
  }

  /** Takes a message's tokens; over the rate, the message is dropped for `limited`, or 1008. */
  #withinRate(connection: Connection<Context>, data: string | Buffer): boolean {
    if (connection.readyState !== 1) return false;
    const now = performance.now();
    const { messages, bytes }: RatePart = policyOf(connection);
    const size = typeof data === 'string' ? Buffer.byteLength(data) : data.length;
    const { messageRate, byteRate } = this.#options;
    // Bytes are checked first, and only taken when the message passes both.
    const bytesOk = !bytes || bytes.wait(byteRate!, now, size) === 0;
    if (bytesOk && (!messages || messages.take(messageRate!, now))) {
      bytes?.take(byteRate!, now, size);
      return true;
    }
    const limited = this.#hooks.limited;
    if (channels.limit.hasSubscribers)
      publishLimit(
        'rateLimit',
        limited ? 'dropped' : 'closed',
        connection,
        undefined,
        undefined,
        limited ? undefined : CloseCode.POLICY_VIOLATION,
      );
    if (limited) this.#invoke(connection, limited, data);
    else connection.close(CloseCode.POLICY_VIOLATION, 'Rate limit exceeded');
    return false;
  }

  /**
   * Delivers, in order, the messages that arrived while `open` or an async validation ran. A
   * message whose validation is async stops the delivery; the rest waits for it.
   */
  flush(connection: Connection<Context>): void {
    const opening: OpenPart = policyOf(connection);
    const pending = opening.pending;
    opening.pending = null;
    if (!pending) return;
    for (let i = 0; i < pending.length; i++) {
      const waiting = opening.pending as Array<[string | Buffer, boolean]> | null | undefined;
      if (waiting) {
        waiting.unshift(...pending.slice(i));
        return;
      }
      const [data, isBinary] = pending[i]!;
      this.message(connection, data, isBinary);
    }
  }

  /** A `for await` loop started: what waits for an async `open` goes to it now. */
  startedIterating(connection: Connection<Context>): void {
    if (policyOf(connection).pending) this.flush(connection);
  }

  #invoke(connection: Connection<Context>, hook: (...args: any[]) => unknown, a?: unknown, b?: unknown): void {
    let result: unknown;
    try {
      result = hook(connection, a, b);
    } catch (error) {
      this.fail(connection, error);
      return;
    }
    if (isThenable(result)) result.then(undefined, (error: unknown) => this.fail(connection, error));
  }

  /** A handler failed: report it and close only this connection, with 1011. */
  fail(connection: Connection<Context>, error: unknown): void {
    this.report(connection, error);
    connection.close(CloseCode.INTERNAL_ERROR, 'Internal error');
  }

  report(connection: Connection<Context> | undefined, error: unknown): void {
    reportError(this.#hooks, connection, error);
  }

  /** A message arrived: rate limit, schema, then a `for await` loop, or the hook and listeners. */
  message(connection: Connection<Context>, data: string | Buffer, isBinary: boolean): void {
    const rates: RatePart = policyOf(connection);
    if (rates.messages !== undefined || rates.bytes !== undefined) {
      if (!this.#withinRate(connection, data)) return;
    }
    const { schema } = this.#options;
    if (schema !== undefined) {
      this.#validate(connection, schema, data, isBinary);
      return;
    }
    this.#deliver(connection, data, isBinary);
  }

  /** Parses and validates a message for the `schema` option; async validators hold later messages. */
  #validate(connection: Connection<Context>, schema: StandardSchemaV1, data: string | Buffer, isBinary: boolean): void {
    if (connection.readyState !== 1) return;
    if (nestsDeeperThan(data, this.#options.maxDepth)) {
      this.#tooDeep(connection);
      return;
    }
    let result: ReturnType<typeof validateMessage>;
    try {
      result = validateMessage(schema, data);
    } catch (error) {
      this.fail(connection, error);
      return;
    }
    if (!isThenable(result)) {
      this.#validated(connection, result, data, isBinary);
      return;
    }
    const opening: OpenPart = policyOf(connection);
    opening.pending = [];
    result.then(
      (settled) => {
        this.#validated(connection, settled, data, isBinary);
        this.flush(connection);
      },
      (error: unknown) => {
        this.fail(connection, error);
        this.flush(connection);
      },
    );
  }

  /**
   * A message nested deeper than `maxDepth`: refused before JSON.parse sees it, always with 1007
   * (the `invalid` hook is for data an app may forgive; this is a limit, like `maxPayload`).
   */
  #tooDeep(connection: Connection<Context>): void {
    const max = this.#options.maxDepth;
    publishLimit('maxDepth', 'closed', connection, undefined, undefined, CloseCode.INVALID_PAYLOAD);
    reportPeerError(
      this.#hooks,
      connection,
      withCode(new RangeError(`Message nested deeper than maxDepth (${max})`), ErrorCode.JSON_TOO_DEEP),
    );
    connection.close(CloseCode.INVALID_PAYLOAD, `JSON nested deeper than ${max}`);
  }

  #validated(
    connection: Connection<Context>,
    result: StandardSchemaV1.Result<unknown>,
    data: string | Buffer,
    isBinary: boolean,
  ): void {
    if (connection.readyState !== 1) return;
    if (result.issues) {
      const hook = this.#hooks.invalid;
      if (hook) {
        this.#invoke(connection, hook, result.issues, data);
      } else {
        // 1007: the data does not fit what this endpoint accepts.
        publishLimit('schema', 'closed', connection, undefined, undefined, CloseCode.INVALID_PAYLOAD);
        connection.close(CloseCode.INVALID_PAYLOAD, 'Invalid message');
      }
      return;
    }
    this.#deliver(connection, result.value as string | Buffer, isBinary);
  }

  /** Hands a message to a running `for await` loop, or to the `message` hook and listeners. */
  #deliver(connection: Connection<Context>, data: string | Buffer, isBinary: boolean): void {
    if (deliverToLoop(connection, data, isBinary)) return;
    const hook = this.#hooks.message;
    if (hook) this.#invoke(connection, hook, data, isBinary);
    if (connection.listenerCount('message') > 0) {
      try {
        connection.emit('message', data, isBinary);
      } catch (error) {
        this.fail(connection, error);
      }
    }
  }

  /** A ping, pong or drain: the hook, then listeners. */
  control(connection: Connection<Context>, kind: 'ping' | 'pong' | 'drain', data?: Buffer): void {
    const hook = this.#hooks[kind];
    if (hook) this.#invoke(connection, hook, data);
    if (connection.listenerCount(kind) > 0) {
      try {
        if (kind === 'drain') connection.emit(kind);
        else connection.emit(kind, data!);
      } catch (error) {
        this.fail(connection, error);
      }
    }
  }

  /** The peer broke the protocol: listeners and the `error` hook hear of it, nothing is logged. */
  error(connection: Connection<Context>, error: Error): void {
    reportPeerError(this.#hooks, connection, error);
  }

  /** A listener added with `on()` returned a promise that rejected. */
  listenerRejected(connection: Connection<Context>, event: string, error: unknown): void {
    // A close or error listener runs as the connection ends: there is nothing left to close.
    if (event === 'close' || event === 'error') this.report(connection, error);
    else this.fail(connection, error);
  }

  /** The connection closed: the `close` hook and listeners, then whoever waits for them. */
  close(connection: Connection<Context>, event: CloseEvent): void {
    const settled = (): void => {
      const opening: OpenPart = policyOf(connection);
      const waiters = opening.closeWaiters;
      opening.closeWaiters = undefined;
      if (waiters) for (const waiter of waiters) waiter();
    };
    let result: unknown;
    const hook = this.#hooks.close;
    try {
      if (hook) result = hook(connection, event);
      if (connection.listenerCount('close') > 0) connection.emit('close', event);
    } catch (error) {
      this.report(connection, error);
    }
    if (isThenable(result)) {
      result.then(settled, (error: unknown) => {
        this.report(connection, error);
        settled();
      });
    } else {
      settled();
    }
  }
}
