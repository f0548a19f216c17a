import './setup.js';
import { fastifyHarness } from '../adapters.js';
import { runOtel } from './suite.js';

runOtel(fastifyHarness);
