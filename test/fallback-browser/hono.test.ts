import { honoHarness } from '../adapters.js';
import { useChromium } from '../browser/suite.js';
import { runFallbackBrowser } from './suite.js';

runFallbackBrowser(honoHarness, useChromium());
