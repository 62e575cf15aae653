import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { ensureBuilt, spawnServe } from '../server/spawn.js';

/** `regctl serve --mirror ...` says at start-up which namespaces pull through where (never credentials). */

let dir: string;
beforeAll(async () => {
  await ensureBuilt();
  dir = await mkdtemp(join(tmpdir(), 'regctl-mirror-startup-'));
}, 120_000);
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

test('start-up lines list each mirror prefix and upstream URL, the default one, and no secrets', async () => {
  const auth = join(dir, 'auth.json');
  await writeFile(auth, JSON.stringify({ auths: { 'ghcr.io': { auth: Buffer.from('robot:s3cret-token').toString('base64') } } }));
  const root = join(dir, 'root');
  const p = await spawnServe(['--root', root, '--mirror', 'docker.io=http://127.0.0.1:9', '--mirror', 'ghcr.io=https://ghcr.example.invalid/', '--mirror-default', 'docker.io', '--mirror-auth', auth]);
  try {
    const lines = p.stdout().split('\n');
    expect(lines.slice(0, 4)).toEqual([
      `regctl registry listening on ${p.url}`,
      `storage: ${root}`,
      'mirror: docker.io/ -> http://127.0.0.1:9 (also names no local repository has: --mirror-default)',
      'mirror: ghcr.io/ -> https://ghcr.example.invalid (with --mirror-auth credentials)',
    ]);
    expect(p.stdout() + p.stderr()).not.toMatch(/s3cret|robot|cm9ib3Q6/);
  } finally {
    const exited = new Promise((r) => p.child.once('exit', r));
    p.child.kill('SIGTERM');
    await exited;
  }
});
