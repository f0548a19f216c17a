import { honoHarness } from '../adapters.js';
import { runBrowser, useChromium } from './suite.js';

runBrowser(honoHarness, useChromium());
