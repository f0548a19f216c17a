import { honoHarness } from '../adapters.js';
import { runNginx } from './suite.js';

runNginx(honoHarness);
