// The adversarial suite's memory bounds, alone on the machine (see vitest.config.ts).
import { nestjsFastifyHarness } from '../adapters.js';
import { runAdversarialMemory } from './suite.js';

runAdversarialMemory(nestjsFastifyHarness);
