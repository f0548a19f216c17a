// The whole conformance suite on an adapter with the internal route off (SWITCHYARD_INTERNALS=0):
// no diagnostics-channel marking, no parser kOnExecute, no EventEmitter store. Each server calls
// routeUpgrades(server) before it listens, the public route the docs name for a Node whose
// internals switchyard can't find (docs/errors.md, SWITCHYARD_PUBLIC_ROUTE). It proves that route
// carries every feature alone, on every runtime CI runs, so a Node release that changes those
// internals degrades to it safely. Each adapter's file imports ./disable-internals.js first.
import { afterAll, describe, expect, it } from 'vitest';
import { routeUpgrades } from '@switchyard/core';
import { internalRoute } from '@switchyard/core/internal';
import { runConformance } from '../conformance/suite.js';
import type { Harness } from '../harness.js';

/** The adapter's harness, with the server routed the public way before it listens. */
function routedUpFront(harness: Harness): Harness {
  return {
    ...harness,
    async createServer(mounts, options) {
      const server = await harness.createServer(mounts, options);
      routeUpgrades(server);
      return server;
    },
  };
}

/** The whole conformance suite, and a check that the internal route really is off. */
export function runPublicRoute(harness: Harness): void {
  afterAll(() => {
    delete process.env.SWITCHYARD_INTERNALS;
  });
  describe(`${harness.name}: the public route`, () => {
    it('is what core uses here: the internal route is off, by the environment', () => {
      expect(internalRoute).toEqual({
        enabled: false,
        disabledBy: 'env',
        parser: false,
        listenerStore: false,
        responseSocket: true,
        missing: [],
      });
    });
  });
  runConformance(routedUpFront(harness));
}
