import { runAdversarial } from './suite.js';

runAdversarial('express');
