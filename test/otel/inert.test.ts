/**
 * @switchyard/otel on the global providers: when they are OpenTelemetry's no-ops at the first
 * handshake (no SDK registered, or one registered through another copy of @opentelemetry/api,
 * which this copy ignores), it says so once with SWITCHYARD_OTEL_INERT instead of recording
 * nothing in silence; with an SDK registered it says nothing. The warning is once per process, so
 * the cases run in order in this file, which registers no SDK of its own beforehand.
 */
import { metrics, trace } from '@opentelemetry/api';
import { BasicTracerProvider } from '@opentelemetry/sdk-trace-base';
import { INERT_WARNING, instrumentSwitchyard } from '@switchyard/otel';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { expressHarness } from '../adapters.js';
import type { Started } from '../harness.js';
import { start } from '../harness.js';
import { openWs } from '../helpers.js';
import { metricsSdk } from './metrics-sdk.js';

describe('@switchyard/otel: inert global providers', () => {
  let s: Started;
  const warnings: Error[] = [];
  const onWarning = (warning: Error) => {
    if ((warning as Error & { code?: string }).code === INERT_WARNING) warnings.push(warning);
  };
  beforeAll(async () => {
    process.on('warning', onWarning);
    s = await start(expressHarness, [{ path: '/chat', handlers: { heartbeat: false } }]);
  });
  afterAll(async () => {
    process.off('warning', onWarning);
    trace.disable();
    metrics.disable();
    await s.close();
  });

  /** One handshake, then a turn of the event loop for a warning (emitted on the next tick). */
  async function handshake(): Promise<void> {
    const ws = await openWs(s.url('/chat'));
    ws.terminate();
    await new Promise((resolve) => setImmediate(resolve));
  }

  it('says nothing when an SDK registered both providers, or when the missing one is not used', async () => {
    metrics.setGlobalMeterProvider(new metricsSdk.MeterProvider());
    trace.setGlobalTracerProvider(new BasicTracerProvider());
    const both = instrumentSwitchyard({ connectionSpans: true });
    await handshake();
    both.disable();
    trace.disable();
    const noSpans = instrumentSwitchyard({ handshakeSpans: false });
    await handshake();
    noSpans.disable();
    expect(warnings).toEqual([]);
  });

  it('warns once, at the first handshake, that spans are lost when no tracer provider is registered', async () => {
    const instrumentation = instrumentSwitchyard();
    expect(warnings).toEqual([]);
    await handshake();
    await vi.waitFor(() => expect(warnings).toHaveLength(1));
    expect(warnings[0]?.message).toMatch(/records no spans: .*no-op.*single copy of @opentelemetry\/api/);
    await handshake();
    instrumentation.disable();
  });

  it('warns no more in this process, whatever else is instrumented', async () => {
    metrics.disable();
    const instrumentation = instrumentSwitchyard();
    await handshake();
    instrumentation.disable();
    expect(warnings).toHaveLength(1);
  });
});
