import { runRecoverySuite } from './recovery.js';

runRecoverySuite('express');
