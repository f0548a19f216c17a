import './disable-internals.js';
import { nestjsHarness } from '../adapters.js';
import { runAdversarial } from '../adversarial/suite.js';
import { runPublicRoute } from './suite.js';

runPublicRoute(nestjsHarness);
// The attacks too: the server process inherits SWITCHYARD_INTERNALS=0.
runAdversarial(nestjsHarness);
