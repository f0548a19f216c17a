import { honoHarness } from '../adapters.js';
import { runMessageBounds } from './bounds.js';

runMessageBounds(honoHarness);
