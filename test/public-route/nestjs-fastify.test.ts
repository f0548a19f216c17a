import './disable-internals.js';
import { nestjsFastifyHarness } from '../adapters.js';
import { runAdversarial } from '../adversarial/suite.js';
import { runPublicRoute } from './suite.js';

runPublicRoute(nestjsFastifyHarness);
// The attacks too: the server process inherits SWITCHYARD_INTERNALS=0.
runAdversarial(nestjsFastifyHarness);
