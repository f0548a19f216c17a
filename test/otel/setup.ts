/**
 * The real OpenTelemetry SDK for the otel suite: a tracer provider with an in-memory span
 * exporter, a meter provider with an in-memory metric exporter, and the real HTTP
 * instrumentation, which must patch `http` before any server is created (each test file runs in
 * its own process, so this stays in that file).
 * The metrics SDK is the line this runtime supports (./metrics-sdk.ts).
 */
import { createRequire } from 'node:module';
import { context } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { registerInstrumentations } from '@opentelemetry/instrumentation';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { ReadableSpan, Span, SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { metricsSdk } from './metrics-sdk.js';

const { AggregationTemporality, InMemoryMetricExporter, MeterProvider, PeriodicExportingMetricReader } = metricsSdk;

export const spanExporter = new InMemorySpanExporter();
/** Spans as they start: the HTTP span of an upgrade ends only when its socket closes. */
export const startedSpans: ReadableSpan[] = [];
const recordStarts: SpanProcessor = {
  onStart(span: Span) {
    startedSpans.push(span);
  },
  onEnd() {},
  forceFlush: async () => {},
  shutdown: async () => {},
};
export const tracerProvider = new NodeTracerProvider({
  spanProcessors: [recordStarts, new SimpleSpanProcessor(spanExporter)],
});
tracerProvider.register({ contextManager: new AsyncLocalStorageContextManager() });
context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());

export const metricExporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
export const metricReader = new PeriodicExportingMetricReader({
  exporter: metricExporter,
  exportIntervalMillis: 3_600_000,
});
export const meterProvider = new MeterProvider({ readers: [metricReader] });

registerInstrumentations({ tracerProvider, instrumentations: [new HttpInstrumentation()] });
// The instrumentation patches `http` when it is required; ESM imports share the same exports.
createRequire(import.meta.url)('node:http');
createRequire(import.meta.url)('http');
