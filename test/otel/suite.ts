/**
 * @switchyard/otel with the real SDK on every adapter: metrics from the in-memory exporter that
 * match a scripted session, a handshake span that is the child of the HTTP instrumentation's
 * request span (same trace), connection spans with the close code, and refusals as spans too.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { SpanKind } from '@opentelemetry/api';
import type { DataPoint, Histogram, MetricData } from '@opentelemetry/sdk-metrics';
import type WebSocket from 'ws';
import type { Handlers } from '@switchyard/core';
import { METRICS, instrumentSwitchyard } from '@switchyard/otel';
import type { SwitchyardInstrumentation } from '@switchyard/otel';
import type { Harness, Started } from '../harness.js';
import { start } from '../harness.js';
import { closed, messages, openWs, requireAssertions } from '../helpers.js';
import { provoke, strictHandlers, violations } from '../violations.js';
import { meterProvider, metricExporter, metricReader, spanExporter, startedSpans, tracerProvider } from './setup.js';

async function collect(): Promise<Map<string, MetricData>> {
  metricExporter.reset();
  await metricReader.forceFlush();
  const byName = new Map<string, MetricData>();
  for (const resource of metricExporter.getMetrics()) {
    for (const scope of resource.scopeMetrics)
      for (const metric of scope.metrics) byName.set(metric.descriptor.name, metric);
  }
  return byName;
}

function points(metric: MetricData | undefined): Array<{ attributes: Record<string, unknown>; value: unknown }> {
  return (metric?.dataPoints ?? []).map((p: DataPoint<unknown>) => ({ attributes: p.attributes, value: p.value }));
}

export function runOtel(harness: Harness): void {
  describe(`${harness.name}: @switchyard/otel with the OpenTelemetry SDK`, () => {
    requireAssertions();
    let instrumentation: SwitchyardInstrumentation;
    let s: Started;
    const clients: WebSocket[] = [];
    beforeAll(async () => {
      instrumentation = instrumentSwitchyard({
        meterProvider,
        tracerProvider,
        connectionSpans: true,
        messageSizeHistogram: true,
      });
      s = await start(harness, [
        {
          path: '/chat',
          handlers: {
            heartbeat: false,
            protocols: ['chat'],
            message(ws, data) {
              if (data === 'quit') ws.close(4000, 'asked');
              else ws.send(`echo ${data as string}`);
            },
          } satisfies Handlers<undefined>,
        },
        {
          path: '/strict',
          handlers: strictHandlers(),
        },
      ]);
    });
    afterEach(() => {
      for (const client of clients.splice(0)) client.terminate();
    });
    afterAll(async () => {
      instrumentation.disable();
      await s.close();
    });

    it('metrics and spans of a scripted session; the handshake span is a child of the HTTP span', async () => {
      spanExporter.reset();
      const a = await openWs(s.url('/chat'), 'chat');
      clients.push(a);
      const inbox = messages(a);
      a.send('one');
      a.send(Buffer.from([1, 2, 3]));
      await inbox.next();
      await inbox.next();
      a.send('quit');
      expect((await closed(a)).code).toBe(4000);
      await expect(openWs(s.url('/chat'), 'soap')).rejects.toThrow(/400/);

      await vi.waitFor(() =>
        expect(spanExporter.getFinishedSpans().filter((span) => span.name.startsWith('WebSocket'))).toHaveLength(3),
      );
      const spans = spanExporter.getFinishedSpans();
      const handshakes = spans.filter((span) => span.name === 'WebSocket handshake /chat');
      expect(handshakes).toHaveLength(2);
      for (const handshake of handshakes) {
        const parentId = handshake.parentSpanContext?.spanId;
        const http = startedSpans.find((span) => span.spanContext().spanId === parentId);
        // The HTTP instrumentation's server span for the same request is the parent.
        expect(http?.kind).toBe(SpanKind.SERVER);
        expect(http?.name).toMatch(/^GET/);
        expect(handshake.spanContext().traceId).toBe(http!.spanContext().traceId);
      }
      expect(handshakes.map((span) => span.attributes['http.response.status_code']).sort()).toEqual([101, 400]);
      const refused = handshakes.find((span) => span.attributes['http.response.status_code'] === 400)!;
      expect(refused.attributes['switchyard.handshake.reason']).toMatch(/Unsupported subprotocol/);

      const connection = spans.find((span) => span.name === 'WebSocket /chat')!;
      expect(connection.attributes).toMatchObject({
        'websocket.close.code': 4000,
        'websocket.close.reason': 'asked',
        'websocket.close.initiator': 'server',
        'websocket.protocol': 'chat',
      });
      const accepted = handshakes.find((span) => span.attributes['http.response.status_code'] === 101)!;
      expect(connection.parentSpanContext?.spanId).toBe(accepted.spanContext().spanId);
      expect(connection.spanContext().traceId).toBe(accepted.spanContext().traceId);

      const metrics = await collect();
      expect(
        points(metrics.get(METRICS.handshakes))
          .map((p) => [p.attributes['http.response.status_code'], p.value])
          .sort(),
      ).toEqual([
        [101, 1],
        [400, 1],
      ]);
      expect(points(metrics.get(METRICS.activeConnections))).toEqual([
        { attributes: { 'switchyard.transport': 'websocket' }, value: 0 },
      ]);
      expect(
        points(metrics.get(METRICS.messages))
          .map((p) => [p.attributes['websocket.message.direction'], p.attributes['websocket.message.type'], p.value])
          .sort(),
      ).toEqual([
        ['receive', 'binary', 1],
        ['receive', 'text', 2],
        ['send', 'text', 2],
      ]);
      const sizes = points(metrics.get(METRICS.messageSize)).find(
        (p) =>
          p.attributes['websocket.message.direction'] === 'receive' &&
          p.attributes['websocket.message.type'] === 'text',
      )!;
      expect((sizes.value as Histogram).sum).toBe(7);
      expect(
        points(metrics.get(METRICS.messageBytes))
          .map((p) => [p.attributes['websocket.message.direction'], p.attributes['websocket.message.type'], p.value])
          .sort(),
      ).toEqual([
        ['receive', 'binary', 3],
        ['receive', 'text', 7],
        ['send', 'text', 16],
      ]);
      expect(points(metrics.get(METRICS.closes))).toEqual([
        { attributes: { 'websocket.close.code': 4000, 'websocket.close.initiator': 'server' }, value: 1 },
      ]);
      expect((points(metrics.get(METRICS.connectionDuration))[0]!.value as Histogram).count).toBe(1);
      expect(points(metrics.get(METRICS.handshakeDuration)).reduce((n, p) => n + (p.value as Histogram).count, 0)).toBe(
        2,
      );
    });

    it('a close this side starts is initiated by the server: 1002, 1007, 1008 and 1009 from ws; 1007 maxDepth, 1008 controlRate and 1011 from switchyard', async () => {
      spanExporter.reset();
      const before = await collect();
      const countOf = (metrics: Map<string, MetricData>, code: number, initiator: string): number =>
        (points(metrics.get(METRICS.closes)).find(
          (p) =>
            p.attributes['websocket.close.code'] === code && p.attributes['websocket.close.initiator'] === initiator,
        )?.value as number | undefined) ?? 0;
      for (const violation of violations) expect(await provoke(s.port, '/strict', violation)).toBe(violation.code);
      await vi.waitFor(() =>
        expect(spanExporter.getFinishedSpans().filter((span) => span.name === 'WebSocket /strict')).toHaveLength(
          violations.length,
        ),
      );
      const spans = spanExporter.getFinishedSpans().filter((span) => span.name === 'WebSocket /strict');
      expect(
        spans.map((span) => [span.attributes['websocket.close.code'], span.attributes['websocket.close.initiator']]),
      ).toEqual(violations.map((violation) => [violation.code, 'server']));
      const after = await collect();
      for (const code of new Set(violations.map((violation) => violation.code))) {
        const expected = violations.filter((violation) => violation.code === code).length;
        expect(countOf(after, code, 'server') - countOf(before, code, 'server'), `${code}`).toBe(expected);
        expect(countOf(after, code, 'client') - countOf(before, code, 'client'), `${code}`).toBe(0);
      }
    });

    it('disable() unsubscribes: nothing more is counted', async () => {
      instrumentation.disable();
      const before = points((await collect()).get(METRICS.handshakes)).reduce((n, p) => n + (p.value as number), 0);
      const ws = await openWs(s.url('/chat'), 'chat');
      ws.close();
      await closed(ws);
      const after = points((await collect()).get(METRICS.handshakes)).reduce((n, p) => n + (p.value as number), 0);
      expect(after).toBe(before);
      instrumentation = instrumentSwitchyard({ meterProvider, tracerProvider });
    });
  });
}
