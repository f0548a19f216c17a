// The conformance tests with an upper bound on time, alone on the machine (see vitest.config.ts).
import { nestjsFastifyHarness } from '../adapters.js';
import { runConformanceTiming } from './suite.js';

runConformanceTiming(nestjsFastifyHarness);
