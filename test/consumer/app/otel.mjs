// A user's app with @switchyard/otel and the OpenTelemetry SDK line this app installed (3.x:
// @opentelemetry/sdk-trace and sdk-metrics 3, on @opentelemetry/api 1.10; 2.x: sdk-trace-base
// and sdk-metrics 2, on api 1.9), registered as the global providers the way an app starts its
// SDK. It opens one WebSocket through Express, sends a message and closes, then prints one JSON
// line: the spans and metric names recorded, and the codes of the process warnings.
import { readFileSync } from 'node:fs';
import { metrics, trace } from '@opentelemetry/api';
import {
  AggregationTemporality,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
} from '@opentelemetry/sdk-metrics';
import { websocket } from '@switchyard/express';
import { instrumentSwitchyard } from '@switchyard/otel';
import express from 'express';
import WebSocket from 'ws';

const warnings = [];
process.on('warning', (warning) => warnings.push(warning.code ?? warning.name));

// The trace SDK the app chose: 3.x is @opentelemetry/sdk-trace (a processor takes { exporter });
// 2.x is @opentelemetry/sdk-trace-base (it takes the exporter). sdk-trace-base 2.x also brings an
// sdk-trace 2.x of its own, so the app's package.json says which line is the app's.
const { dependencies } = JSON.parse(readFileSync('package.json', 'utf8'));
const spans = { current: undefined };
let provider;
if (dependencies['@opentelemetry/sdk-trace']) {
  const sdk = await import('@opentelemetry/sdk-trace');
  spans.current = new sdk.InMemorySpanExporter();
  provider = new sdk.TracerProvider({ spanProcessors: [new sdk.SimpleSpanProcessor({ exporter: spans.current })] });
} else {
  const sdk = await import('@opentelemetry/sdk-trace-base');
  spans.current = new sdk.InMemorySpanExporter();
  provider = new sdk.BasicTracerProvider({ spanProcessors: [new sdk.SimpleSpanProcessor(spans.current)] });
}
trace.setGlobalTracerProvider(provider);
const metricExporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
const reader = new PeriodicExportingMetricReader({ exporter: metricExporter, exportIntervalMillis: 3_600_000 });
metrics.setGlobalMeterProvider(new MeterProvider({ readers: [reader] }));

const instrumentation = instrumentSwitchyard({ connectionSpans: true });
const app = express();
app.use('/echo', websocket({ message: (ws, data) => ws.send(data) }));
const server = app.listen(0, '127.0.0.1');
await new Promise((resolve) => server.once('listening', resolve));
const ws = new WebSocket(`ws://127.0.0.1:${server.address().port}/echo`);
await new Promise((resolve, reject) => {
  ws.once('open', () => ws.send('hello'));
  ws.once('message', () => ws.close(1000));
  ws.once('close', resolve);
  ws.once('error', reject);
});
await new Promise((resolve) => setTimeout(resolve, 50));
await reader.forceFlush();
const names = metricExporter
  .getMetrics()
  .flatMap((resource) => resource.scopeMetrics.flatMap((scope) => scope.metrics.map((m) => m.descriptor.name)));
console.log(
  JSON.stringify({
    // The app's own copy: its package.json is not in the package's `exports`.
    api: JSON.parse(readFileSync('node_modules/@opentelemetry/api/package.json', 'utf8')).version,
    spans: spans.current.getFinishedSpans().map((span) => span.name),
    metrics: names,
    warnings,
  }),
);
instrumentation.disable();
server.close();
