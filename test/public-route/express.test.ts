import './disable-internals.js';
import { expressHarness } from '../adapters.js';
import { runAdversarial } from '../adversarial/suite.js';
import { runPublicRoute } from './suite.js';

runPublicRoute(expressHarness);
// The attacks too: the server process inherits SWITCHYARD_INTERNALS=0.
runAdversarial(expressHarness);
