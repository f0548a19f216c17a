import { fastifyHarness } from '../adapters.js';
import { runNginx } from './suite.js';

runNginx(fastifyHarness);
