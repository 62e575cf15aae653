import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { build } from 'esbuild';
import { afterAll, beforeAll, expect, it } from 'vitest';

/**
 * The settings folder holds passwords: 0700, the file 0600, whatever the umask. umask is
 * per process, so a child process (with umask 000, as some CI images and containers run)
 * runs the real ConfigStore, bundled from src/ by esbuild (bare imports such as `conf`
 * resolve from the checkout's node_modules, as the bundle sits in dist/).
 */

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
let out: string;
let dir: string;

beforeAll(async () => {
  await mkdir(join(ROOT, 'dist'), { recursive: true });
  out = mkdtempSync(join(ROOT, 'dist', 'test-umask-'));
  dir = mkdtempSync(join(tmpdir(), 'regctl-umask-'));
  await build({
    stdin: {
      contents: `
        import { statSync } from 'node:fs';
        import { ConfigStore } from '../../src/config/store.js';
        process.umask(0);
        const store = new ConfigStore({ REGCTL_CONFIG_DIR: process.argv[2] });
        await store.setCredential('localhost:5000', { username: 'u', password: 'p' });
        await store.setDefaultRegistry('localhost:5000');
        const mode = (p) => (statSync(p).mode & 0o777).toString(8);
        console.log(JSON.stringify({ umask: process.umask().toString(8), dir: mode(store.dir), file: mode(store.path) }));
      `,
      resolveDir: join(ROOT, 'test', 'config'),
      loader: 'ts',
    },
    bundle: true,
    packages: 'external',
    platform: 'node',
    format: 'esm',
    target: 'node20',
    outfile: join(out, 'store-umask.mjs'),
    logLevel: 'silent',
  });
});

afterAll(() => {
  rmSync(out, { recursive: true, force: true });
  rmSync(dir, { recursive: true, force: true });
});

it('under umask 000 the config folder is 0700 and config.json 0600', async () => {
  const target = join(dir, 'nested', 'regctl');
  const { stdout } = await promisify(execFile)(process.execPath, [join(out, 'store-umask.mjs'), target], { cwd: ROOT });
  expect(JSON.parse(stdout)).toEqual({ umask: '0', dir: '700', file: '600' });
});
