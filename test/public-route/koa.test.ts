import './disable-internals.js';
import { koaHarness } from '../adapters.js';
import { runAdversarial } from '../adversarial/suite.js';
import { runPublicRoute } from './suite.js';

runPublicRoute(koaHarness);
// The attacks too: the server process inherits SWITCHYARD_INTERNALS=0.
runAdversarial(koaHarness);
