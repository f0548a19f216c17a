// The conformance tests with an upper bound on time, alone on the machine (see vitest.config.ts).
import { fastifyHarness } from '../adapters.js';
import { runConformanceTiming } from './suite.js';

runConformanceTiming(fastifyHarness);
