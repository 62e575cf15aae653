#!/usr/bin/env node
// Second build step (after `tsc -p src`): bundle the CLI that bin/regctl.js runs into
// dist/bundle/ as ES modules. Every command pays for module loading before it does anything:
// one entry file plus a few shared chunks have far less to resolve than ~40 of our modules and
// the many CommonJS files of commander and undici.
//
// The bundle is ESM, like the source, so `import()` stays a real import(): a package's default
// export is what Node says it is, with no bundler interop in between (a CommonJS bundle once
// turned `(await import('ora')).default` into the whole module object, and `ora` and `conf` were
// "not a function" for every user). Code splitting keeps each command lazy: a command's own code
// and the libraries only it needs are chunks loaded by its import(). Compiled code is cached by
// Node itself (module.enableCompileCache(), Node >= 22.1; see bin/regctl.js).
//
// commander, undici and semver go into the bundle; every other dependency stays an ordinary
// import of the installed package at run time (some read their own files, and they are loaded
// only by the commands that use them). Two undici modules regctl never runs are stubbed out.
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { undiciStubs } from './undici-stubs.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const bundled = new Set(['undici', 'commander', 'semver']);
const external = Object.keys(pkg.dependencies)
  .filter((name) => !bundled.has(name))
  .flatMap((name) => [name, `${name}/*`]);

const outdir = join(root, 'dist', 'bundle');
const result = await build({
  absWorkingDir: root,
  entryPoints: { regctl: 'dist/cli/main.js' },
  outdir,
  outExtension: { '.js': '.mjs' },
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  external,
  plugins: [undiciStubs],
  // The CommonJS packages inside (undici, commander, semver) call require() for Node's built-in
  // modules; an ES module has no `require`, so each chunk gets one.
  banner: { js: "import { createRequire as __regctlCreateRequire } from 'node:module'; const require = __regctlCreateRequire(import.meta.url);" },
  logLevel: 'warning',
  metafile: true,
  legalComments: 'none',
  // Less to parse on a run without a compile cache (Node 20 has none).
  minifyWhitespace: true,
  minifySyntax: true,
  // No keepNames: it wraps every function, per-request closures in the server included, and
  // nothing relies on class names (main.ts tells commander's errors apart by their code).
});

// Drop what earlier builds left (chunks of an older build, the CommonJS bundle and its V8 code
// caches of earlier versions). Not by emptying the folder first: a regctl started meanwhile, by
// a test, say, must find its files.
const written = new Set(Object.keys(result.metafile.outputs).map((p) => join(root, p)));
for (const name of readdirSync(outdir)) {
  if (!written.has(join(outdir, name))) rmSync(join(outdir, name), { recursive: true, force: true });
}
