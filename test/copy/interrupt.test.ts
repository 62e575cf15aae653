import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, beforeEach, expect, test } from 'vitest';
import { dockerSaveTar, makeRealImage, type RealImage } from '../archive/fixtures.js';
import { runCli } from '../helpers/cli.js';
import { startServe, type ServeHandle } from '../helpers/serve.js';
import { startStallingRegistry, type StallingRegistry } from '../helpers/stalling-registry.js';
import { ensureBuilt } from '../server/spawn.js';

// Ctrl-C during `regctl copy` into the project's registry: the layer upload is mid-stream when
// the signal comes. The command must stop with one line and exit 130, and cancel its upload
// session (DELETE), so the registry is not left holding it. A real registry cannot be made to
// stall mid-blob on cue, so the SOURCE is scripted: manifest and config as usual, the layer's
// first half, then nothing. The destination is the real `regctl serve` storage.

const BIN = fileURLToPath(new URL('../../bin/regctl.js', import.meta.url));
let source: StallingRegistry;
let sourceAt: string;
let img: RealImage;
let serve: ServeHandle;
let dir: string;
/** Resolved each time the layer has been half sent. */
let onStall: () => void = () => {};

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'regctl-copy-interrupt-'));
  img = await makeRealImage({ layers: [3_000_000] });
  source = await startStallingRegistry(img, () => onStall());
  sourceAt = source.host;
}, 60_000);

afterAll(async () => {
  await source?.close();
  await rm(dir, { recursive: true, force: true });
});

beforeEach(async () => {
  serve = await startServe();
});

afterEach(async () => {
  source.server.closeAllConnections();
  await serve.close();
});

/** Until the layer's upload session is open at the registry and half its bytes went out. */
async function uploadOpen(stalled: Promise<void>): Promise<void> {
  await stalled;
  const deadline = Date.now() + 10_000;
  while ((await serve.storage.listUploads!()).length === 0) {
    if (Date.now() > deadline) throw new Error('no upload session opened at the registry');
    await new Promise((r) => setTimeout(r, 20));
  }
}

const nextStall = (): Promise<void> => new Promise<void>((resolve) => (onStall = resolve));

test('in-process: an interrupted copy exits 130 with one line and cancels its upload session', async () => {
  const stalled = nextStall();
  const interrupt = new AbortController();
  const running = runCli(['copy', '--progress', 'none', `${sourceAt}/app:1.0`, `${serve.registry}/app:1.0`], { interrupt: interrupt.signal });
  await uploadOpen(stalled);
  interrupt.abort();
  const r = await running;
  expect(r.code).toBe(130);
  expect(r.stdout).toBe('');
  expect(r.stderr).toBe('error: copy interrupted: nothing was tagged after the interruption\n');
  expect(await serve.storage.listUploads!()).toEqual([]);
  expect(serve.requests.filter((q) => q.method === 'DELETE' && q.path.includes('/blobs/uploads/'))).toHaveLength(1);
  expect(serve.requests.filter((q) => q.method === 'PUT' && q.path.includes('/manifests/'))).toEqual([]);
}, 30_000);

test('spawned: Ctrl-C (SIGINT) exits 130 with one line and leaves no upload session', async () => {
  await ensureBuilt();
  const stalled = nextStall();
  const child = spawn(process.execPath, [BIN, 'copy', '--progress', 'none', `${sourceAt}/app:1.0`, `${serve.registry}/app:1.0`], {
    env: { ...process.env, HOME: dir, DOCKER_CONFIG: dir, REGCTL_CONFIG_DIR: join(dir, 'cfg'), NO_COLOR: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  await uploadOpen(stalled);
  child.kill('SIGINT');
  expect(await exited).toBe(130);
  expect(stderr).toBe('error: copy interrupted: nothing was tagged after the interruption\n');
  expect(await serve.storage.listUploads!()).toEqual([]);
}, 120_000);

test('spawned: Ctrl-C in a command that has nothing to clean up exits 130 with one line', async () => {
  await ensureBuilt();
  // A registry that never answers: `regctl tags` waits on it until interrupted.
  const silent = createServer(() => {});
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  const at = `127.0.0.1:${(silent.address() as AddressInfo).port}`;
  let seen: () => void;
  const connected = new Promise<void>((r) => (seen = r));
  silent.on('connection', () => seen());
  try {
    const child = spawn(process.execPath, [BIN, 'tags', `${at}/app`], {
      env: { ...process.env, HOME: dir, DOCKER_CONFIG: dir, REGCTL_CONFIG_DIR: join(dir, 'cfg') },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
    const exited = new Promise<[number | null, string | null]>((resolve) => child.once('exit', (code, signal) => resolve([code, signal])));
    await connected;
    child.kill('SIGINT');
    expect(await exited).toEqual([130, null]);
    expect(stderr).toBe('error: interrupted\n');
  } finally {
    silent.closeAllConnections();
    await new Promise((r) => silent.close(r));
  }
}, 120_000);

test.each([
  ['import', ['import', '--progress', 'none', '-']],
  ['copy', ['copy', '--progress', 'none', 'docker-archive:-']],
])('spawned: Ctrl-C while `%s` spools a docker save stream from stdin exits 130 with one line, removes the spool, pushes nothing', async (verb, args) => {
  await ensureBuilt();
  // A stdin archive is spooled to a temporary folder before anything is pushed; stdin stops
  // half way, as a slow `docker save` would.
  const tar = await dockerSaveTar(img, ['app:1.0']);
  const temp = await mkdtemp(join(dir, 'tmp-'));
  const child = spawn(process.execPath, [BIN, ...args, `${serve.registry}/app:1.0`], {
    env: { ...process.env, TMPDIR: temp, HOME: dir, DOCKER_CONFIG: dir, REGCTL_CONFIG_DIR: join(dir, 'cfg'), NO_COLOR: '1' },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.stdin!.on('error', () => {});
  child.stdin!.write(tar.subarray(0, tar.length >> 1));
  const deadline = Date.now() + 20_000;
  while ((await readdir(temp)).length === 0) {
    if (Date.now() > deadline) throw new Error('the import never started spooling');
    await new Promise((r) => setTimeout(r, 20));
  }
  child.kill('SIGINT');
  expect(await exited).toBe(130);
  expect(stderr).toBe(`error: ${verb} interrupted: nothing was tagged after the interruption\n`);
  expect(await readdir(temp)).toEqual([]);
  expect(serve.requests.filter((q) => q.method !== 'GET' && q.method !== 'HEAD')).toEqual([]);
  child.stdin!.destroy();
}, 120_000);
