import { defineConfig } from 'vitest/config';

// Two groups of test files, by name:
// - `*.serial.test.ts` measure the machine: heap after GC, or how long something takes, with an
//   upper bound a busy CPU can break. They run last, one file at a time in one worker, so they
//   never share the machine with another test file.
// - every other `*.test.ts` waits on sockets, timers and child processes far more than it
//   computes, so several run at once (WORKERS).
// A new file joins a group by its name alone; nothing here lists files.
const INCLUDE = ['packages/*/test/**/*.test.ts', 'test/**/*.test.ts'];
const SERIAL = ['packages/*/test/**/*.serial.test.ts', 'test/**/*.serial.test.ts'];

// 3 on two cores, measured on an idle 2-core machine (2026-12-07) with the conformance, public-route,
// RFC 6455, adversarial and fallback suites (886 tests): 2 workers 124 s, 3 102 s, 4 85 s, 6 77 s.
// 4 and 6 are faster, but the run with 4 had a timing failure (adversarial handler faults); 3 has
// passed five full runs. SWITCHYARD_TEST_WORKERS overrides it (1 runs every file serially).
const WORKERS = Number(process.env.SWITCHYARD_TEST_WORKERS ?? 3);

export default defineConfig({
  test: {
    // Generous: with several files at once on two cores, starting a Node child process or a
    // browser can take seconds. A test that hangs still fails, later.
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    // The pool is shared by both groups: its size is the parallel group's; the serial group's
    // files run only after every parallel file has finished, and one at a time.
    poolOptions: { forks: { maxForks: WORKERS, minForks: 1 } },
    projects: [
      {
        extends: true,
        test: { name: 'parallel', include: INCLUDE, exclude: [...SERIAL, '**/node_modules/**'] },
      },
      {
        extends: true,
        test: {
          name: 'serial',
          include: SERIAL,
          sequence: { groupOrder: 1 },
          // In a run of both groups at once (`vitest run`), one process runs the serial files in
          // turn. scripts/test.mjs runs this group on its own with one worker instead, which
          // gives each file a process of its own, as in the parallel group.
          poolOptions: { forks: { singleFork: WORKERS > 1 } },
        },
      },
    ],
  },
});
