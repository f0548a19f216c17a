// The fallback's memory bounds and timing, alone on the machine (see vitest.config.ts).
import { nestjsHarness } from '../adapters.js';
import { runFallbackMemory } from './limits.js';
import { runFallbackTiming } from './suite.js';

runFallbackTiming(nestjsHarness);
runFallbackMemory(nestjsHarness);
