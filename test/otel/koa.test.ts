import './setup.js';
import { koaHarness } from '../adapters.js';
import { runOtel } from './suite.js';

runOtel(koaHarness);
