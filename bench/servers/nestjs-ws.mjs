/** @nestjs/platform-ws's WsAdapter: the echo gateway of _nest-echo.mjs; broadcast is a send loop. */
import { WsAdapter } from '@nestjs/platform-ws';
import { serve } from './_harness.mjs';
import { echoParser, nestEchoApp } from './_nest-echo.mjs';

const subscribers = new Set();
const server = await nestEchoApp((app) => new WsAdapter(app, { messageParser: echoParser }), {
  onSubscribe: (ws) => subscribers.add(ws),
  onUnsubscribe: (ws) => subscribers.delete(ws),
});
serve({
  server,
  publish(payload) {
    for (const ws of subscribers) ws.send(payload);
  },
  subscribers: () => subscribers.size,
});
