import { spawn } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { ensureBuilt } from '../server/spawn.js';
import { makeRealImage, type RealImage } from './fixtures.js';
import { startStallingRegistry, type StallingRegistry } from '../helpers/stalling-registry.js';

// Ctrl-C during `regctl export`: the layers are being gunzipped into a spool under the temp
// folder when the signal comes. The command must stop, say so in one line, exit non-zero, and
// leave neither a partial archive nor its spool behind. A real registry cannot be made to
// stall mid-blob on cue, so the source is a scripted one: manifest and config as usual, the
// layer's first half, then nothing.

const BIN = fileURLToPath(new URL('../../bin/regctl.js', import.meta.url));
let dir: string;
let server: StallingRegistry;
let port: number;
let img: RealImage;
let stalled: () => void;
const layerStalled = new Promise<void>((resolve) => (stalled = resolve));

beforeAll(async () => {
  await ensureBuilt();
  dir = await mkdtemp(join(tmpdir(), 'regctl-interrupt-'));
  img = await makeRealImage({ layers: [400_000] });
  server = await startStallingRegistry(img, () => setTimeout(stalled, 100));
  port = Number(server.host.split(':')[1]);
}, 120_000);

afterAll(async () => {
  await server?.close();
  await rm(dir, { recursive: true, force: true });
});

test('Ctrl-C during export: one line saying export interrupted, exit 130, no partial archive, no spool left', async () => {
  const temp = join(dir, 'tmp');
  await rm(temp, { recursive: true, force: true });
  await import('node:fs/promises').then((fs) => fs.mkdir(temp));
  const out = join(dir, 'app.tar');
  const child = spawn(process.execPath, [BIN, 'export', '--progress', 'none', `127.0.0.1:${port}/app:1.0`, out], {
    env: { ...process.env, TMPDIR: temp, HOME: dir, DOCKER_CONFIG: dir, REGCTL_CONFIG_DIR: join(dir, 'cfg'), NO_COLOR: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  await layerStalled;
  // The spool exists while the layer is half read: the interrupt lands mid-transfer.
  expect((await readdir(temp)).filter((n) => n.startsWith('regctl-'))).toHaveLength(1);
  child.kill('SIGINT');
  const code = await exited;
  expect(code).toBe(130);
  expect(stderr).toBe('error: export interrupted\n');
  expect(await readdir(temp)).toEqual([]);
  expect((await readdir(dir)).filter((n) => n.startsWith('app.tar'))).toEqual([]);
}, 60_000);
