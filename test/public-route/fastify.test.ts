import './disable-internals.js';
import { fastifyHarness } from '../adapters.js';
import { runAdversarial } from '../adversarial/suite.js';
import { runPublicRoute } from './suite.js';

runPublicRoute(fastifyHarness);
// The attacks too: the server process inherits SWITCHYARD_INTERNALS=0.
runAdversarial(fastifyHarness);
