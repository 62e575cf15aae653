import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';
import { ensureBuilt } from '../server/spawn.js';

/** bench/load.mjs for 5 seconds: 50 clients pushing and pulling, zero errors, every digest verified, also after gc. */
it('50 concurrent clients for 5 s: no errors, nothing lost (before and after gc)', async () => {
  await ensureBuilt();
  const dir = await mkdtemp(join(tmpdir(), 'regctl-load-'));
  try {
    const out = join(dir, 'load.json');
    const repoRoot = join(import.meta.dirname, '..', '..');
    const { stdout } = await promisify(execFile)(process.execPath, [join(repoRoot, 'bench', 'load.mjs'), '--duration', '5', '--clients', '50', '--layer-kib', '64', '--json', out], {
      cwd: repoRoot,
    });
    const r = JSON.parse(await readFile(out, 'utf8'));
    expect(r.errors, stdout).toBe(0);
    // enough images for gc to have untagged ones (a busy 2-core machine manages ~50 in 5 s)
    expect(r.pushes).toBeGreaterThan(9);
    expect(r.pulls).toBeGreaterThan(0);
    expect(r.tagged).toBeGreaterThan(0);
    expect(r.verified).toBe(r.tagged);
    expect(r.verifiedAfterGc).toBe(r.tagged);
    // Every third image was untagged: gc found them.
    expect(r.gc.removed).toBeGreaterThan(0);
    expect(r.latencyMs.p99).toBeGreaterThan(0);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}, 60_000);
