/**
 * @switchyard/otel with no SDK at all: the first handshake warns once (SWITCHYARD_OTEL_INERT)
 * that it records neither metrics nor spans. Apart from inert.test.ts because the warning is once
 * per process.
 */
import { INERT_WARNING, instrumentSwitchyard } from '@switchyard/otel';
import { afterAll, expect, it, vi } from 'vitest';
import { koaHarness } from '../adapters.js';
import { start } from '../harness.js';
import { openWs } from '../helpers.js';

it('koa: no SDK registered: one warning, naming metrics and spans, for any number of handshakes', async () => {
  const warnings: Error[] = [];
  const onWarning = (warning: Error) => {
    if ((warning as Error & { code?: string }).code === INERT_WARNING) warnings.push(warning);
  };
  process.on('warning', onWarning);
  const s = await start(koaHarness, [{ path: '/chat', handlers: { heartbeat: false } }]);
  const instrumentation = instrumentSwitchyard();
  afterAll(async () => {
    instrumentation.disable();
    process.off('warning', onWarning);
    await s.close();
  });
  for (let i = 0; i < 3; i++) (await openWs(s.url('/chat'))).terminate();
  await vi.waitFor(() => expect(warnings).toHaveLength(1));
  expect(warnings[0]?.message).toMatch(/records no metrics or spans/);
  await new Promise((resolve) => setImmediate(resolve));
  expect(warnings).toHaveLength(1);
});
