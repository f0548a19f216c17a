import './setup.js';
import { expressHarness } from '../../packages/express/test/harness.js';
import { runOtel } from './suite.js';

runOtel(expressHarness);
