// The whole conformance suite on each adapter with the internal route off
// (SWITCHYARD_INTERNALS=0): no diagnostics-channel marking, no parser kOnExecute, no
// EventEmitter store. Each server calls routeUpgrades(server) before it listens, the public
// route the docs name for a Node whose internals switchyard can't find (docs/errors.md,
// SWITCHYARD_PUBLIC_ROUTE). It proves that route carries every feature alone, on every runtime
// CI runs, so a Node release that changes those internals degrades to it safely.
import './public-route/disable-internals.js';
import { afterAll, describe, expect, it } from 'vitest';
import { routeUpgrades } from '@switchyard/core';
import { internalRoute } from '@switchyard/core/internal';
import { runConformance } from './conformance.js';
import type { Harness } from './harness.js';
import { expressHarness } from '../packages/express/test/harness.js';
import { koaHarness } from '../packages/koa/test/harness.js';
import { fastifyHarness } from '../packages/fastify/test/harness.js';

afterAll(() => {
  delete process.env.SWITCHYARD_INTERNALS;
});

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

describe('the public route', () => {
  it('is what core uses here: the internal route is off, by the environment', () => {
    expect(internalRoute).toEqual({ enabled: false, disabledBy: 'env', parser: false, listenerStore: false, responseSocket: true, missing: [] });
  });
});

runConformance(routedUpFront(expressHarness));
runConformance(routedUpFront(koaHarness));
runConformance(routedUpFront(fastifyHarness));
