import { expressHarness } from '../adapters.js';
import { runMessageBounds } from './bounds.js';

runMessageBounds(expressHarness);
