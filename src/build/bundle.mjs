#!/usr/bin/env node
// Second build step (after `tsc -p src`): bundle the CLI that bin/regctl.js runs into one
// CommonJS file, dist/bundle/regctl.cjs. Every command pays for module loading and compiling
// before it does anything, and Node 20 has no compile cache: ~40 ES modules plus commander's and
// undici's CommonJS files cost ~20 ms of a 150 ms `regctl tags`. One file has no module graph to
// resolve, and as a classic script it can be run through vm.Script with V8's code cache, which
// bin/regctl.js does (a further ~30 ms: compiled code is loaded instead of parsed and compiled).
// Modules reached by dynamic import() stay lazy inside the bundle (esbuild wraps them), so a
// command still runs only its own code.
//
// commander, undici and semver go into the bundle; every other dependency stays an ordinary
// import() at run time (loaded by the commands that use it; some read their own files).
// Two undici modules regctl never runs are stubbed out (see STUBS).
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const bundled = new Set(['undici', 'commander', 'semver']);
const external = Object.keys(pkg.dependencies)
  .filter((name) => !bundled.has(name))
  .flatMap((name) => [name, `${name}/*`]);

/**
 * undici modules regctl never runs, replaced by stubs so they are neither bundled nor parsed at
 * every start: the HTTP/2 client (allowH2 is never set; it would load node:http2 and node:tls)
 * and fetch's body extraction (only for FormData request bodies; ~100 KB of fetch/webidl code).
 */
const STUBS = [
  { file: /[/\\]dispatcher[/\\]client-h2\.js$/, contents: "module.exports = function connectH2 () { throw new Error('HTTP/2 is not enabled in regctl') }" },
  { file: /[/\\]web[/\\]fetch[/\\]body\.js$/, contents: "module.exports = { extractBody () { throw new Error('FormData request bodies are not supported by regctl') } }" },
];
const undiciStubs = {
  name: 'regctl-undici-stubs',
  setup(b) {
    b.onResolve({ filter: /client-h2\.js$|fetch[/\\]body\.js$/ }, (args) => {
      if (!args.importer.includes(`${join('node_modules', 'undici')}`)) return undefined;
      const full = join(args.resolveDir, args.path);
      const i = STUBS.findIndex((s) => s.file.test(full));
      return i < 0 ? undefined : { path: String(i), namespace: 'regctl-undici-stub' };
    });
    b.onLoad({ filter: /.*/, namespace: 'regctl-undici-stub' }, (args) => ({ contents: STUBS[Number(args.path)].contents, loader: 'js' }));
  },
};

const result = await build({
  absWorkingDir: root,
  entryPoints: ['dist/cli/main.js'],
  outfile: 'dist/bundle/regctl.cjs',
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  external,
  plugins: [undiciStubs],
  // The bundle runs inside bin/regctl.js's CommonJS-style wrapper, which passes __filename.
  define: { 'import.meta.url': '__regctlModuleUrl' },
  // import() of the packages left outside becomes require() (still lazy: it runs where the
  // import() was). import() inside a vm.Script needs an experimental Node hook, which Node 20
  // also loses for code loaded from a code cache; require() of an ES module package works
  // unflagged from Node 20.19 (package.json engines) and yields the same namespace.
  supported: { 'dynamic-import': false },
  banner: { js: "var __regctlModuleUrl = require('node:url').pathToFileURL(__filename).href;" },
  logLevel: 'warning',
  metafile: true,
  legalComments: 'none',
  // Less to parse on a run without a code cache (~7 M instructions of ~280 M for `regctl tags`).
  minifyWhitespace: true,
  minifySyntax: true,
  // No keepNames: it wraps every function, per-request closures in the server included, and
  // nothing relies on class names (bundling renames CommanderError to CommanderError2; main.ts
  // tells commander's errors apart by their code).
});

// Drop what earlier builds left (older layouts' chunks, code caches of an older bundle: those
// are keyed by the bundle's size and mtime, so they could not be used anyway). Not by emptying
// the folder first: a regctl started meanwhile, by a test, say, must find its files.
const written = new Set(Object.keys(result.metafile.outputs).map((p) => p.slice('dist/bundle/'.length)));
for (const name of readdirSync(join(root, 'dist/bundle'))) {
  if (!written.has(name)) rmSync(join(root, 'dist/bundle', name), { recursive: true, force: true });
}
