import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { acquireLockFile, LockBusyError, writeFileAtomic } from '../../src/server/storage/fs-file-ops.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'regctl-fileops-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('writeFileAtomic (the server one)', () => {
  it('replaces the content whole, sets an explicit mode exactly, and leaves no temp file', async () => {
    const path = join(dir, 'users');
    await writeFileAtomic(path, 'old\n');
    const umask = process.umask(0o077);
    try {
      await writeFileAtomic(path, 'new\n', { mode: 0o640 });
    } finally {
      process.umask(umask);
    }
    expect(await readFile(path, 'utf8')).toBe('new\n');
    expect((await stat(path)).mode & 0o777).toBe(0o640);
    expect(await readdir(dir)).toEqual(['users']);
  });

  it('removes its temp file when the rename fails', async () => {
    const target = join(dir, 'taken');
    await mkdir(join(target, 'inside'), { recursive: true });
    await expect(writeFileAtomic(target, 'x')).rejects.toMatchObject({ code: expect.stringMatching(/^(EISDIR|ENOTEMPTY|EEXIST)$/) });
    expect(await readdir(dir)).toEqual(['taken']);
  });
});

describe('acquireLockFile', () => {
  it('holds the lock with its pid and releases it', async () => {
    const lock = join(dir, 'x.lock');
    const release = await acquireLockFile(lock);
    expect(await readFile(lock, 'utf8')).toBe(String(process.pid));
    await release();
    expect(await readdir(dir)).toEqual([]);
  });

  it('waits for a live holder until its timeout (LockBusyError), and gets it once released', async () => {
    const lock = join(dir, 'x.lock');
    const first = await acquireLockFile(lock);
    await expect(acquireLockFile(lock, { timeoutMs: 50 })).rejects.toBeInstanceOf(LockBusyError);
    const second = acquireLockFile(lock);
    await first();
    await (await second)();
    expect(await readdir(dir)).toEqual([]);
  });

  it("takes over at once a lock whose process is gone, and an unreadable one after 30 s", async () => {
    const lock = join(dir, 'x.lock');
    const dead = spawnSync(process.execPath, ['-e', '0']).pid!;
    await writeFile(lock, String(dead));
    await (await acquireLockFile(lock, { timeoutMs: 0 }))();
    await writeFile(lock, '');
    await expect(acquireLockFile(lock, { timeoutMs: 0 })).rejects.toBeInstanceOf(LockBusyError);
    const old = new Date(Date.now() - 31_000);
    await utimes(lock, old, old);
    await (await acquireLockFile(lock, { timeoutMs: 0 }))();
  });

  it('throws ENOENT for a missing directory unless asked to recreate it', async () => {
    const lock = join(dir, 'gone', 'x.lock');
    await expect(acquireLockFile(lock)).rejects.toMatchObject({ code: 'ENOENT' });
    const release = await acquireLockFile(lock, { onMissingDirectory: () => mkdir(join(dir, 'gone')).then(() => undefined) });
    expect(await readFile(lock, 'utf8')).toBe(String(process.pid));
    await release();
  });
});
