import { koaHarness } from '../adapters.js';
import { runNginx } from './suite.js';

runNginx(koaHarness);
