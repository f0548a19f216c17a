import './setup.js';
import { honoHarness } from '../adapters.js';
import { runOtel } from './suite.js';

runOtel(honoHarness);
