/**
 * The OpenTelemetry metrics SDK this runtime supports: `@opentelemetry/sdk-metrics` 3.x needs
 * Node 22.15 or later, so older runtimes get its 2.x line (the `@opentelemetry/sdk-metrics-v2`
 * alias in the root package.json), the SDK an app on those runtimes would use.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import semver from 'semver';

type MetricsSdk = typeof import('@opentelemetry/sdk-metrics');

/** The package name of the metrics SDK line that supports this runtime (its `engines`). */
export const metricsSdkName = semver.satisfies(process.versions.node, '>=22.15.0')
  ? '@opentelemetry/sdk-metrics'
  : '@opentelemetry/sdk-metrics-v2';
// Read from the workspace's node_modules: 3.x leaves package.json out of its `exports`.
const sdkEngines: string = JSON.parse(
  readFileSync(join(import.meta.dirname, '../../node_modules', metricsSdkName, 'package.json'), 'utf8'),
).engines.node;
if (!semver.satisfies(process.versions.node, sdkEngines))
  throw new Error(`${metricsSdkName} supports Node ${sdkEngines}, not ${process.versions.node}`);

/** That SDK's exports. */
export const metricsSdk = (await import(metricsSdkName)) as MetricsSdk;
