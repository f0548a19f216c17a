/**
 * @switchyard/otel: OpenTelemetry metrics and spans for switchyard endpoints.
 *
 *   import { instrumentSwitchyard } from '@switchyard/otel';
 *   const instrumentation = instrumentSwitchyard();           // global providers
 *   instrumentation.disable();                                // unsubscribes
 *
 * It subscribes to core's `node:diagnostics_channel` channels (docs/observability.md), so it
 * sees every endpoint of the process, whichever adapter created it, and costs nothing once
 * disabled. Only `@opentelemetry/api` is needed; the app brings the SDK and its exporters.
 */
import diagnosticsChannel from 'node:diagnostics_channel';
import type { IncomingMessage } from 'node:http';
import { createRequire } from 'node:module';
import {
  ProxyTracerProvider,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  context,
  createNoopMeter,
  metrics,
  propagation,
  trace,
} from '@opentelemetry/api';
import type {
  Attributes,
  BatchObservableResult,
  Context,
  Counter,
  Histogram,
  MeterProvider,
  Span,
  TracerProvider,
  UpDownCounter,
} from '@opentelemetry/api';
import { CHANNELS } from '@switchyard/core';
import type {
  BackpressureMessage,
  CloseMessage,
  Connection,
  ErrorMessage,
  HandshakeEndMessage,
  HandshakeStartMessage,
  LimitMessage,
  MessageMessage,
  OpenMessage,
} from '@switchyard/core';

/** The instrumentation scope name of the meter and tracer. */
export const INSTRUMENTATION_NAME = '@switchyard/otel';
/** The scope version: this package's own, so that a release bump reaches it. */
const VERSION: string = createRequire(import.meta.url)('../package.json').version;

/** The code of the warning that says the global providers it uses record nothing. */
export const INERT_WARNING = 'SWITCHYARD_OTEL_INERT';
let warnedInert = false;

/**
 * Says once per process that the global providers this package reads are OpenTelemetry's no-ops,
 * which record nothing and say nothing. It happens when no SDK was registered before the first
 * handshake (before `instrumentSwitchyard()`, for metrics: the metrics API has no proxy that
 * would pick a later provider up), or when the app registered its SDK through another copy of
 * `@opentelemetry/api`: a copy ignores a global registered by an older minor version.
 */
function warnIfInert(meterIsNoop: boolean, tracerProvider: TracerProvider | undefined): void {
  if (warnedInert) return;
  const tracerIsNoop =
    tracerProvider instanceof ProxyTracerProvider &&
    tracerProvider.getDelegateTracer(INSTRUMENTATION_NAME, VERSION) === undefined;
  if (!meterIsNoop && !tracerIsNoop) return;
  warnedInert = true;
  const what = [meterIsNoop && 'metrics', tracerIsNoop && 'spans'].filter(Boolean).join(' or ');
  const providers = [meterIsNoop && 'meter', tracerIsNoop && 'tracer'].filter(Boolean).join(' and ');
  process.emitWarning(
    `@switchyard/otel records no ${what}: the global ${providers} provider of the @opentelemetry/api it loads is a no-op. ` +
      'Start the OpenTelemetry SDK before calling instrumentSwitchyard(), and check that the app has a single copy of @opentelemetry/api (npm ls @opentelemetry/api), ' +
      'or pass meterProvider and tracerProvider to instrumentSwitchyard().',
    { code: INERT_WARNING },
  );
}

/** Options of {@link instrumentSwitchyard}. */
export interface SwitchyardInstrumentationOptions {
  /** Default: the global meter provider. */
  meterProvider?: MeterProvider;
  /** Default: the global tracer provider. */
  tracerProvider?: TracerProvider;
  /** A span per handshake, child of the HTTP request's span. Default true. */
  handshakeSpans?: boolean;
  /** A span per connection, from open to close, with the close code. Default false: long spans suit few backends. */
  connectionSpans?: boolean;
  /** Count messages and bytes (one subscriber call and two additions per message). Default true. */
  messageMetrics?: boolean;
  /** Also a histogram of message sizes: an SDK record per message, which costs more than the echo itself. Default false. */
  messageSizeHistogram?: boolean;
}

/** What {@link instrumentSwitchyard} returns. */
export interface SwitchyardInstrumentation {
  /** Unsubscribes from every channel; open spans are left to end with their connections no more. */
  disable(): void;
}

/** The metric names, after OpenTelemetry's semantic conventions style (`<namespace>.<noun>`, units in UCUM). */
export const METRICS = {
  handshakes: 'websocket.server.handshakes',
  handshakeDuration: 'websocket.server.handshake.duration',
  activeConnections: 'websocket.server.active_connections',
  connectionDuration: 'websocket.server.connection.duration',
  messages: 'websocket.server.messages',
  messageBytes: 'websocket.server.message.bytes',
  messageSize: 'websocket.server.message.size',
  closes: 'websocket.server.closes',
  errors: 'websocket.server.errors',
  limits: 'websocket.server.limits',
  backpressure: 'websocket.server.backpressure',
} as const;

interface HandshakeState {
  start: number;
  span: Span | undefined;
  context: Context;
}

interface ConnectionState {
  start: number;
  span: Span | undefined;
  transport: string;
}

/** Attributes shared by every message of a kind, built once instead of per message. */
const MESSAGE_ATTRIBUTES: Record<'in' | 'out', [Attributes, Attributes]> = {
  in: [
    { 'websocket.message.direction': 'receive', 'websocket.message.type': 'text' },
    { 'websocket.message.direction': 'receive', 'websocket.message.type': 'binary' },
  ],
  out: [
    { 'websocket.message.direction': 'send', 'websocket.message.type': 'text' },
    { 'websocket.message.direction': 'send', 'websocket.message.type': 'binary' },
  ],
};

/** The parent of a handshake span: the active context if an HTTP instrumentation set one, else the request's headers. */
function parentContext(request: IncomingMessage): Context {
  const active = context.active();
  if (trace.getSpan(active) !== undefined) return active;
  return propagation.extract(ROOT_CONTEXT, request.headers);
}

/** Subscribes to switchyard's channels and turns them into metrics and spans. */
export function instrumentSwitchyard(options: SwitchyardInstrumentationOptions = {}): SwitchyardInstrumentation {
  const meter = (options.meterProvider ?? metrics.getMeterProvider()).getMeter(INSTRUMENTATION_NAME, VERSION);
  const tracer = (options.tracerProvider ?? trace.getTracerProvider()).getTracer(INSTRUMENTATION_NAME, VERSION);
  const handshakeSpans = options.handshakeSpans ?? true;
  const connectionSpans = options.connectionSpans ?? false;
  // Providers the app passed are its own choice; only the global ones are checked, at the first
  // handshake, when the app has had its start-up to register an SDK.
  const meterIsNoop = options.meterProvider === undefined && meter === createNoopMeter();
  const globalTracerProvider =
    options.tracerProvider === undefined && (handshakeSpans || connectionSpans) ? trace.getTracerProvider() : undefined;
  let checked = false;

  const handshakes: Counter = meter.createCounter(METRICS.handshakes, {
    description: 'Handshakes answered, by status',
    unit: '{handshake}',
  });
  const handshakeDuration: Histogram = meter.createHistogram(METRICS.handshakeDuration, {
    description: 'Time from the request to the 101 or the refusal',
    unit: 's',
  });
  const active: UpDownCounter = meter.createUpDownCounter(METRICS.activeConnections, {
    description: 'Open connections',
    unit: '{connection}',
  });
  const connectionDuration: Histogram = meter.createHistogram(METRICS.connectionDuration, {
    description: 'How long connections stayed open',
    unit: 's',
  });
  // Messages are counted in plain numbers here and read at collection time: an SDK counter's
  // add() hashes its attributes on every call, which would cost more than the echo it counts.
  const counts = new Float64Array(4);
  const bytes = new Float64Array(4);
  const messages = meter.createObservableCounter(METRICS.messages, {
    description: 'Messages received and sent',
    unit: '{message}',
  });
  const messageBytes = meter.createObservableCounter(METRICS.messageBytes, {
    description: 'Message payload bytes received and sent',
    unit: 'By',
  });
  const messageSize: Histogram | undefined = options.messageSizeHistogram
    ? meter.createHistogram(METRICS.messageSize, { description: 'Message payload sizes', unit: 'By' })
    : undefined;
  const observeMessages = (result: BatchObservableResult): void => {
    for (let i = 0; i < 4; i++) {
      if (counts[i] === 0) continue;
      const attributes = MESSAGE_ATTRIBUTES[i < 2 ? 'in' : 'out'][i & 1]!;
      result.observe(messages, counts[i]!, attributes);
      result.observe(messageBytes, bytes[i]!, attributes);
    }
  };
  const closes: Counter = meter.createCounter(METRICS.closes, {
    description: 'Closed connections, by close code and initiator',
    unit: '{connection}',
  });
  const errors: Counter = meter.createCounter(METRICS.errors, {
    description: 'Handler failures and protocol errors',
    unit: '{error}',
  });
  const limits: Counter = meter.createCounter(METRICS.limits, {
    description: 'Refusals, drops and closes by a limit',
    unit: '{event}',
  });
  const backpressure: Counter = meter.createCounter(METRICS.backpressure, {
    description: 'Sends that passed the high-water mark',
    unit: '{event}',
  });

  const pendingHandshakes = new WeakMap<IncomingMessage, HandshakeState>();
  const connections = new WeakMap<Connection<any, any, any>, ConnectionState>();

  const onHandshakeStart = (message: unknown): void => {
    const { request, transport, path } = message as HandshakeStartMessage;
    if (!checked) {
      checked = true;
      warnIfInert(meterIsNoop, globalTracerProvider);
    }
    const parent = parentContext(request);
    const span = handshakeSpans
      ? tracer.startSpan(
          `WebSocket handshake ${path}`,
          {
            kind: SpanKind.INTERNAL,
            attributes: { 'url.path': path, 'switchyard.transport': transport },
          },
          parent,
        )
      : undefined;
    pendingHandshakes.set(request, {
      start: performance.now(),
      span,
      context: span ? trace.setSpan(parent, span) : parent,
    });
  };

  const onOpen = (message: unknown): void => {
    const { connection, request, transport } = message as OpenMessage;
    active.add(1, { 'switchyard.transport': transport });
    let span: Span | undefined;
    if (connectionSpans) {
      const parent = pendingHandshakes.get(request)?.context ?? parentContext(request);
      span = tracer.startSpan(
        `WebSocket ${connection.request.path}`,
        {
          kind: SpanKind.SERVER,
          attributes: {
            'url.path': connection.request.path,
            'switchyard.transport': transport,
            'websocket.protocol': connection.protocol,
          },
        },
        parent,
      );
    }
    connections.set(connection, { start: performance.now(), span, transport });
  };

  const onHandshakeEnd = (message: unknown): void => {
    const { request, transport, status, accepted, reason } = message as HandshakeEndMessage;
    // Kept (weakly, with the request) for the connection span that `open` starts next.
    const state = pendingHandshakes.get(request);
    const attributes: Attributes = {
      'http.response.status_code': status,
      'switchyard.transport': transport,
      'switchyard.handshake.accepted': accepted,
    };
    handshakes.add(1, attributes);
    if (!state) return;
    handshakeDuration.record((performance.now() - state.start) / 1000, attributes);
    const span = state.span;
    if (!span) return;
    state.span = undefined;
    span.setAttribute('http.response.status_code', status);
    if (!accepted) {
      span.setAttribute('switchyard.handshake.reason', reason);
      // Refusals the server chose (4xx) are answers, not failures; 5xx and a vanished client are.
      if (status >= 500 || status === 0)
        span.setStatus({ code: SpanStatusCode.ERROR, message: reason || 'client left' });
    }
    span.end();
  };

  const onMessage = (direction: 'in' | 'out') => {
    const base = direction === 'in' ? 0 : 2;
    return (message: unknown): void => {
      const { size, isBinary } = message as MessageMessage;
      const slot = base + (isBinary ? 1 : 0);
      counts[slot]!++;
      bytes[slot]! += size;
      messageSize?.record(size, MESSAGE_ATTRIBUTES[direction][isBinary ? 1 : 0]!);
    };
  };
  const onMessageIn = onMessage('in');
  const onMessageOut = onMessage('out');

  const onClose = (message: unknown): void => {
    const { connection, code, reason, wasClean, closedBy } = message as CloseMessage;
    const state = connections.get(connection);
    connections.delete(connection);
    closes.add(1, { 'websocket.close.code': code, 'websocket.close.initiator': closedBy });
    if (!state) return;
    active.add(-1, { 'switchyard.transport': state.transport });
    connectionDuration.record((performance.now() - state.start) / 1000, {
      'switchyard.transport': state.transport,
      'websocket.close.code': code,
    });
    const span = state.span;
    if (!span) return;
    span.setAttributes({
      'websocket.close.code': code,
      'websocket.close.reason': reason,
      'websocket.close.initiator': closedBy,
      'websocket.close.clean': wasClean,
    });
    // 1000 and 1001 are ordinary ends; anything else ended the conversation early.
    if (code !== 1000 && code !== 1001)
      span.setStatus({ code: SpanStatusCode.ERROR, message: `close ${code}${reason ? ` ${reason}` : ''}` });
    span.end();
  };

  const onError = (message: unknown): void => {
    const { connection, error } = message as ErrorMessage;
    errors.add(1, { 'error.type': (error as Error & { code?: string }).code ?? error.name });
    const span = connection ? connections.get(connection)?.span : undefined;
    span?.recordException(error);
  };

  const onLimit = (message: unknown): void => {
    const { limit, action } = message as LimitMessage;
    limits.add(1, { 'switchyard.limit': limit, 'switchyard.limit.action': action });
  };

  const onBackpressure = (message: unknown): void => {
    if ((message as BackpressureMessage).state === 'full') backpressure.add(1);
  };

  const subscriptions: Array<[string, (message: unknown) => void]> = [
    [CHANNELS.handshakeStart, onHandshakeStart],
    [CHANNELS.open, onOpen],
    [CHANNELS.handshakeEnd, onHandshakeEnd],
    [CHANNELS.close, onClose],
    [CHANNELS.error, onError],
    [CHANNELS.limit, onLimit],
    [CHANNELS.backpressure, onBackpressure],
  ];
  const messageMetrics = options.messageMetrics ?? true;
  if (messageMetrics) {
    subscriptions.push([CHANNELS.messageIn, onMessageIn], [CHANNELS.messageOut, onMessageOut]);
    meter.addBatchObservableCallback(observeMessages, [messages, messageBytes]);
  }
  for (const [name, listener] of subscriptions) diagnosticsChannel.subscribe(name, listener);
  let enabled = true;
  return {
    disable() {
      if (!enabled) return;
      enabled = false;
      for (const [name, listener] of subscriptions) diagnosticsChannel.unsubscribe(name, listener);
      if (messageMetrics) meter.removeBatchObservableCallback(observeMessages, [messages, messageBytes]);
    },
  };
}
