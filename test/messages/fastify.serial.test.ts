import { fastifyHarness } from '../adapters.js';
import { runMessageBounds } from './bounds.js';

runMessageBounds(fastifyHarness);
