// The adversarial suite's memory bounds on the public route, alone on the machine (see
// vitest.config.ts); the server process inherits SWITCHYARD_INTERNALS=0.
import './disable-internals.js';
import { afterAll } from 'vitest';
import { nestjsFastifyHarness } from '../adapters.js';
import { runAdversarialMemory } from '../adversarial/suite.js';

runAdversarialMemory(nestjsFastifyHarness);
// A `vitest run` of both groups runs the serial files in one process: the next file gets the
// internal route back.
afterAll(() => {
  delete process.env.SWITCHYARD_INTERNALS;
});
