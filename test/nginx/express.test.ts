import { expressHarness } from '../adapters.js';
import { runNginx } from './suite.js';

runNginx(expressHarness);
