// The fallback's memory bounds, alone on the machine (see vitest.config.ts).
import { koaHarness } from '../adapters.js';
import { runFallbackMemory } from './limits.js';

runFallbackMemory(koaHarness);
