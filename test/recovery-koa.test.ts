import { runRecoverySuite } from './recovery.js';

runRecoverySuite('koa');
