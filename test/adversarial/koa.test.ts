import { runAdversarial } from './suite.js';

runAdversarial('koa');
