import { expressHarness } from '../adapters.js';
import { runBrowser, useChromium } from './suite.js';

runBrowser(expressHarness, useChromium());
