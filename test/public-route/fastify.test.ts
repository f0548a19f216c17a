import './disable-internals.js';
import { fastifyHarness } from '../adapters.js';
import { runPublicRoute } from './suite.js';

runPublicRoute(fastifyHarness);
