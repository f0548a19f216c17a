#!/usr/bin/env node
// The compiled CLI lives in ../dist; `pnpm install` builds it (the workspace's prepare script).
let main;
try {
  ({ main } = await import('../dist/index.js'));
} catch (error) {
  if (error?.code !== 'ERR_MODULE_NOT_FOUND' || !String(error.message).includes('/dist/index.js')) throw error;
  console.error(
    'switchyard: the CLI is not built yet. Run "npx -y pnpm@10 install" (which builds it) or "npx tsc -b".',
  );
  process.exit(1);
}
const status = await main(process.argv.slice(2));
// Exit once what was written has been flushed, even if a handle (a paused stdin) lingers.
process.stdout.write('', () => process.stderr.write('', () => process.exit(status)));
