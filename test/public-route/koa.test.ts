import './disable-internals.js';
import { koaHarness } from '../adapters.js';
import { runPublicRoute } from './suite.js';

runPublicRoute(koaHarness);
