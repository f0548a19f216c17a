import { nestjsFastifyHarness } from '../adapters.js';
import { runRfc6455 } from './suite.js';

runRfc6455(nestjsFastifyHarness);
