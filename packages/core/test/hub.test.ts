import { createHub } from '@switchyard/core';
import { runHubSuite } from '../../../test/hub-suite.js';

runHubSuite({
  name: 'in-process',
  create: async () => createHub(),
  cleanup: async () => {},
  settle: 0,
});
