import { runConformance } from '../../../test/conformance.js';
import { koaHarness } from './harness.js';

runConformance(koaHarness);
