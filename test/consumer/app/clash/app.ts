// docs/migration.md: @fastify/websocket and @switchyard/fastify can't share a program with
// `skipLibCheck: false`, even on two Fastify instances: both declare the `websocket` route option.
// The consumer test expects TS2717 and TS2300 from this file with the check on, and none without.
import fastifyWebsocket from '@fastify/websocket';
import switchyard from '@switchyard/fastify';
import Fastify from 'fastify';

const legacy = Fastify();
void legacy.register(fastifyWebsocket);
const migrated = Fastify();
void migrated.register(switchyard);
