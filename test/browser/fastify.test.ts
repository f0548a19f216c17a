import { fastifyHarness } from '../adapters.js';
import { runBrowser, useChromium } from './suite.js';

runBrowser(fastifyHarness, useChromium());
