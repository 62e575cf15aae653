#!/usr/bin/env node
// Second build step (after `tsc -p src`): bundle the CLI that bin/regctl.js runs into
// dist/bundle/. Every command pays for module loading before it does anything, and Node 20
// has no compile cache: ~40 separate ES modules plus commander's and undici's CommonJS files
// cost ~20 ms of a 150 ms `regctl tags`. One entry with code-split chunks (each command's
// code still loads only when that command runs) removes most of it.
//
// commander, undici and semver go into the bundle; every other dependency stays an ordinary import
// (loaded lazily by the commands that use it, and some read their own files at run time).
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
  entryPoints: { main: 'dist/cli/main.js' },
  outdir: 'dist/bundle',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  external,
  plugins: [undiciStubs],
  // Bundled CommonJS calls require() for Node's built-ins; ES module output has none.
  banner: { js: "import { createRequire as __regctlCreateRequire } from 'node:module'; const require = __regctlCreateRequire(import.meta.url);" },
  logLevel: 'warning',
  metafile: true,
  legalComments: 'none',
  // Less to parse at every start (~7 M instructions of ~280 M for `regctl tags`); names are kept.
  minifyWhitespace: true,
  minifySyntax: true,
  // No keepNames: it wraps every function, per-request closures in the server included, and
  // nothing relies on class names (bundling renames CommanderError to CommanderError2; main.ts
  // tells commander's errors apart by their code).
});

// Chunk names carry content hashes: drop chunks of earlier builds. (Not by emptying the folder
// first: a regctl started meanwhile, by a test, say, must find every file it imports.)
const written = new Set(Object.keys(result.metafile.outputs).map((p) => p.slice('dist/bundle/'.length)));
for (const name of readdirSync(join(root, 'dist/bundle'))) {
  if (!written.has(name)) rmSync(join(root, 'dist/bundle', name), { force: true });
}
