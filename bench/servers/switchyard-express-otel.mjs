/**
 * switchyard on Express (stats on, the default) with @switchyard/otel subscribed to every
 * channel, into an SDK MeterProvider read by a Prometheus exporter (not scraped during the run).
 */
import http from 'node:http';
import express from 'express';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { createHub, websocket } from '@switchyard/express';
import { instrumentSwitchyard } from '@switchyard/otel';
import { TOPIC, serve } from './_harness.mjs';

instrumentSwitchyard({
  meterProvider: new MeterProvider({ readers: [new PrometheusExporter({ preventServerStart: true })] }),
});

const hub = createHub();
const app = express();
app.use(function tagUser(_req, res, next) {
  res.locals.user = 'bench';
  next();
});
app.use(
  '/echo',
  websocket({
    message(ws, data) {
      ws.send(data);
    },
  }),
);
app.use(
  '/sub',
  websocket({
    hub,
    open(ws) {
      ws.subscribe(TOPIC);
    },
  }),
);
app.use('/http', (_req, res) => {
  res.end('ok');
});

serve({
  server: http.createServer(app),
  publish: (payload) => hub.publish(TOPIC, payload),
  subscribers: () => hub.subscriberCount(TOPIC),
});
