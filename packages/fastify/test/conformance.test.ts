import { runConformance } from '../../../test/conformance.js';
import { fastifyHarness } from './harness.js';

runConformance(fastifyHarness);
