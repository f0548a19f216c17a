import { runConformance } from '../../../test/conformance.js';
import { expressHarness } from './harness.js';

runConformance(expressHarness);
