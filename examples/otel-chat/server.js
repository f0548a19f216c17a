// The Express chat demo with metrics: the same room at /chat, and Prometheus metrics at /metrics
// from @switchyard/otel and OpenTelemetry's Prometheus exporter.
//   npx -y pnpm@10 install && npx -y pnpm@10 exec tsc -b && node examples/otel-chat/server.js
//   curl http://localhost:3000/metrics
import { fileURLToPath } from 'node:url';
import express from 'express';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { shutdown, websocket } from '@switchyard/express';
import { instrumentSwitchyard } from '@switchyard/otel';
import { chatRoom } from '../express-chat/chat.js';

// Served by the app itself (preventServerStart), so metrics share the chat's port.
const exporter = new PrometheusExporter({ preventServerStart: true });
const meterProvider = new MeterProvider({ readers: [exporter] });
instrumentSwitchyard({ meterProvider });

const app = express();
app.use(express.static(fileURLToPath(new URL('../express-chat/public', import.meta.url))));
const chat = websocket(chatRoom());
app.use('/chat', chat);
app.get('/metrics', (req, res) => exporter.getMetricsRequestHandler(req, res));
// switchyard's own counters, for a quick look without a Prometheus server.
app.get('/stats', (_req, res) => res.json(chat.endpoint.stats()));

const port = Number(process.env.PORT ?? 3000);
const server = app.listen(port, process.env.HOST ?? '127.0.0.1', () => {
  const { address, port: bound } = server.address();
  console.log(
    `switchyard chat with metrics on http://${address === '::' ? 'localhost' : address}:${bound} (metrics at /metrics)`,
  );
});

// Under pnpm one Ctrl-C arrives twice (the terminal signals the process group, and pnpm
// forwards its own): the shutdown runs once, and the repeat does not cut it short.
let stopping;
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    stopping ??= (async () => {
      await shutdown(server);
      server.close();
      await meterProvider.shutdown();
    })();
  });
}
