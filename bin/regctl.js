#!/usr/bin/env node
// Runs the CLI bundle (dist/bundle/regctl.mjs, made by `npm run build`: src/build/bundle.mjs).
// Node >= 22.1 caches compiled code itself (module.enableCompileCache: in the system's temporary
// folder, keyed by file contents, refused by another Node or V8; NODE_DISABLE_COMPILE_CACHE=1
// turns it off); Node 20 compiles at every start.
import module from 'node:module';

module.enableCompileCache?.();
let cli;
try {
  cli = await import('../dist/bundle/regctl.mjs');
} catch (e) {
  if (e?.code !== 'ERR_MODULE_NOT_FOUND' || !String(e.message).includes('regctl.mjs')) throw e;
  process.stderr.write('regctl: dist/bundle/regctl.mjs is missing: run `npm run build` in the regctl checkout\n');
  process.exit(1);
}
await cli.runMain();
