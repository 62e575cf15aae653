import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { ensureBuilt } from '../server/spawn.js';
import { startServe, type ServeHandle } from '../helpers/serve.js';
import { pushBlob, pushManifest } from '../server/client.js';

// Start-up weight, pinned without a stopwatch: which of Node's built-in modules the real
// binary loads. Timings on a shared 2-core machine swing by 2x; the module list does not.
// Each module named below was measured at 1-7 ms of start-up (bench/client.mjs times it all).

const BIN = fileURLToPath(new URL('../../bin/regctl.js', import.meta.url));
let dir: string;
let preload: string;
let s: ServeHandle;

beforeAll(async () => {
  await ensureBuilt();
  dir = await mkdtemp(join(tmpdir(), 'regctl-startup-'));
  preload = join(dir, 'modules.cjs');
  // Prints, at exit, the built-in modules loaded, one per line, on file descriptor 3.
  await writeFile(
    preload,
    "process.on('exit', () => { require('fs').writeSync(3, process.moduleLoadList.filter((m) => m.startsWith('NativeModule ')).map((m) => m.slice(13)).join('\\n')); });\n",
  );
  s = await startServe();
  const config = Buffer.from('{"architecture":"amd64","os":"linux"}');
  const configDigest = await pushBlob(s.url, 'startup/app', config);
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
    layers: [],
  }));
  await pushManifest(s.url, 'startup/app', '1.0', manifest, 'application/vnd.oci.image.manifest.v1+json');
}, 120_000);

afterAll(async () => {
  await s?.close();
  await rm(dir, { recursive: true, force: true });
});

function builtinsLoaded(args: string[]): Promise<{ code: number | null; stdout: string; modules: Set<string> }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-r', preload, BIN, ...args], {
      env: { ...process.env, HOME: dir, DOCKER_CONFIG: dir, XDG_CONFIG_HOME: dir, NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let modules = '';
    child.stdout!.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stdio[3]!.on('data', (c: Buffer) => (modules += c.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, modules: new Set(modules.split('\n')) }));
  });
}

test('`regctl tags` over plain HTTP loads no TLS, HTTP/2, perf_hooks or os', async () => {
  const r = await builtinsLoaded(['tags', `${s.registry}/startup/app`]);
  expect(r.code).toBe(0);
  expect(r.stdout).toBe('1.0\n');
  expect(r.modules.has('http')).toBe(true); // the probe works: undici's dependency is seen
  for (const heavy of ['tls', 'http2', 'perf_hooks', 'os']) expect(r.modules.has(heavy), heavy).toBe(false);
});

test('`regctl --version` loads neither commander (child_process) nor the HTTP stack', async () => {
  const r = await builtinsLoaded(['--version']);
  expect(r.code).toBe(0);
  expect(r.stdout).toMatch(/^\d+\.\d+\.\d+\n$/);
  // (net itself is loaded for a piped stdout, so it says nothing here.)
  for (const heavy of ['child_process', 'http', 'tls']) expect(r.modules.has(heavy), heavy).toBe(false);
});
