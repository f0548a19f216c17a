import { fastifyHarness } from '../adapters.js';
import { useChromium } from '../browser/suite.js';
import { runFallbackBrowser } from './suite.js';

runFallbackBrowser(fastifyHarness, useChromium());
