import './disable-internals.js';
import { honoHarness } from '../adapters.js';
import { runAdversarial } from '../adversarial/suite.js';
import { runPublicRoute } from './suite.js';

runPublicRoute(honoHarness);
// The attacks too: the server process inherits SWITCHYARD_INTERNALS=0.
runAdversarial(honoHarness);
