// The fallback's memory bounds and timing, alone on the machine (see vitest.config.ts).
import { honoHarness } from '../adapters.js';
import { runFallbackMemory } from './limits.js';
import { runFallbackTiming } from './suite.js';

runFallbackTiming(honoHarness);
runFallbackMemory(honoHarness);
