#!/usr/bin/env node
// Runs the CLI bundle (dist/bundle/regctl.cjs, made by `npm run build`: src/build/bundle.mjs)
// through V8's code cache. Node 20 has no compile cache of its own, and parsing and compiling
// the CLI was ~30 ms of every command (a third of `regctl tags` above bare Node). The cache of a
// command is written by its first run, next to the bundle, and used from then on; V8 refuses a
// cache made by another V8 or with other flags, and the file name carries the bundle's size and
// mtime, so a rebuilt bundle never meets an old cache. Nothing here is needed for correctness:
// without a usable cache (or a writable folder) the bundle simply compiles as usual.
import { mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import vm from 'node:vm';

const bundle = fileURLToPath(new URL('../dist/bundle/regctl.cjs', import.meta.url));
let source;
let stat;
try {
  source = readFileSync(bundle, 'utf8');
  stat = statSync(bundle);
} catch {
  process.stderr.write('regctl: dist/bundle/regctl.cjs is missing: run `npm run build` in the regctl checkout\n');
  process.exit(1);
}

// One cache per command: each holds the code its command compiled on the run that wrote it.
const command = process.argv.slice(2).find((a) => !a.startsWith('-')) ?? '';
const name = /^[a-z][a-z0-9-]{0,31}$/.test(command) ? command : 'main';
const cacheFile = join(dirname(bundle), 'cache', `${stat.size}-${Math.trunc(stat.mtimeMs)}-${process.version}-${process.arch}-${name}.v8`);
let cachedData;
try {
  cachedData = readFileSync(cacheFile);
} catch {
  // first run of this command (or not writable): compile as usual
}

// The bundle has no import() of its own (src/build/bundle.mjs turns them into require()).
const script = new vm.Script(`(function (exports, require, module, __filename, __dirname) {${source}\n})`, { filename: bundle, cachedData });

if (cachedData === undefined || script.cachedDataRejected) {
  let written = false;
  const write = () => {
    if (written) return;
    written = true;
    try {
      mkdirSync(dirname(cacheFile), { recursive: true });
      const tmp = `${cacheFile}.${process.pid}.tmp`;
      writeFileSync(tmp, script.createCachedData());
      renameSync(tmp, cacheFile);
    } catch {
      // a read-only install: no cache, no harm
    }
  };
  // Written at the first connection, before the transport changes a V8 flag (src/transport/
  // agent.ts): V8 would refuse a cache made under other flags. Commands that never connect
  // write it when they end well.
  process.getBuiltinModule('node:diagnostics_channel').subscribe('undici:client:beforeConnect', write);
  process.once('exit', (code) => {
    if (code === 0) write();
  });
}

const module = { exports: {} };
script.runInThisContext()(module.exports, createRequire(bundle), module, bundle, dirname(bundle));
await module.exports.runMain();
