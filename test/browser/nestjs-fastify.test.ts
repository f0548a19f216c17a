import { nestjsFastifyHarness } from '../adapters.js';
import { runBrowser, useChromium } from './suite.js';

runBrowser(nestjsFastifyHarness, useChromium());
