import { createHub } from '@switchyard/core';
import { runHubSuite } from './hub-suite.js';

runHubSuite({
  name: 'in-process',
  create: async () => createHub(),
  cleanup: async () => {},
  settle: 0,
});
