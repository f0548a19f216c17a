import { nestjsHarness } from '../adapters.js';
import { runBrowser, useChromium } from './suite.js';

runBrowser(nestjsHarness, useChromium());
