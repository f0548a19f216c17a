/** switchyard's Nest adapter: the echo gateway of _nest-echo.mjs; broadcast through the hub. */
import { SwitchyardAdapter, createHub } from '@switchyard/nestjs';
import { TOPIC, serve } from './_harness.mjs';
import { echoParser, nestEchoApp } from './_nest-echo.mjs';

const hub = createHub();
const server = await nestEchoApp((app) => new SwitchyardAdapter(app, { hub, messageParser: echoParser }), {
  onSubscribe: (ws) => ws.subscribe(TOPIC),
});
serve({
  server,
  publish: (payload) => hub.publish(TOPIC, payload),
  subscribers: () => hub.subscriberCount(TOPIC),
});
