import { koaHarness } from '../adapters.js';
import { runMessageBounds } from './bounds.js';

runMessageBounds(koaHarness);
