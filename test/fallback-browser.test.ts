import { useChromium } from './browser.js';
import { runFallbackBrowser } from './fallback-browser.js';
import { expressHarness } from '../packages/express/test/harness.js';
import { koaHarness } from '../packages/koa/test/harness.js';
import { fastifyHarness } from '../packages/fastify/test/harness.js';

const chromium = useChromium();
for (const harness of [expressHarness, koaHarness, fastifyHarness]) runFallbackBrowser(harness, chromium);
