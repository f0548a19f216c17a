import { koaHarness } from '../adapters.js';
import { runBrowser, useChromium } from './suite.js';

runBrowser(koaHarness, useChromium());
