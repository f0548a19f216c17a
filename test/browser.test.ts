import { runBrowser, useChromium } from './browser.js';
import { expressHarness } from '../packages/express/test/harness.js';
import { fastifyHarness } from '../packages/fastify/test/harness.js';
import { koaHarness } from '../packages/koa/test/harness.js';

// One Chromium for the whole file.
const chromium = useChromium();
runBrowser(expressHarness, chromium);
runBrowser(koaHarness, chromium);
runBrowser(fastifyHarness, chromium);
