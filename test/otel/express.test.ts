import './setup.js';
import { expressHarness } from '../adapters.js';
import { runOtel } from './suite.js';

runOtel(expressHarness);
