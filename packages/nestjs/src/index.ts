/**
 * @switchyard/nestjs: NestJS gateways on switchyard.
 *
 *   const app = await NestFactory.create(AppModule);
 *   app.useWebSocketAdapter(new SwitchyardAdapter(app, { heartbeat: { interval: 30_000 } }));
 *
 * Gateways stay as they are (`@WebSocketGateway({ path })`, `@SubscribeMessage`, the `{ event,
 * data }` format of `@nestjs/platform-ws`), on the app's own server and port. Their guards and
 * Nest middleware answer the handshake with a real HTTP status before the 101. All protocol work
 * is in core.
 */

// All of core's API an app calls, from the one list in core, so that an app imports this package alone.
export * from '@switchyard/core/app';
export { SwitchyardAdapter, SwitchyardServer } from './adapter.js';
export type { GatewayMessage, MessageParser, SwitchyardAdapterOptions, SwitchyardGatewayOptions } from './options.js';
