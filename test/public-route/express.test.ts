import './disable-internals.js';
import { expressHarness } from '../adapters.js';
import { runPublicRoute } from './suite.js';

runPublicRoute(expressHarness);
