import { randomBytes } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import { copyFile, link, mkdir, open, rename, rm, stat, unlink, utimes } from 'node:fs/promises';
import { dirname, join, basename } from 'node:path';

/** Write a small file so readers see either the old or the new content, never a mix. */
export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  // The writer's pid in the name lets start-up cleanup (fs-startup.ts) tell a crash's leftover
  // from a file another live process (regctl serve gc) is writing right now.
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}-${randomBytes(6).toString('hex')}.tmp`);
  const fh = await open(tmp, 'w', 0o644);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}

export async function fsyncFile(path: string): Promise<void> {
  const fh = await open(path, 'r+');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

export function isErrno(e: unknown, ...codes: string[]): boolean {
  return typeof e === 'object' && e !== null && codes.includes((e as NodeJS.ErrnoException).code ?? '');
}

/**
 * Make `dst` hold the same bytes as `src`: a hard link (stored once) when the file system
 * allows, else a copy written under a temporary name (in `tmpDir`, same file system) and renamed,
 * so `dst` never exists half-written.
 * Returns false when `dst` already existed.
 */
export async function linkOrCopy(src: string, dst: string, tmpDir: string): Promise<boolean> {
  try {
    await link(src, dst);
    return true;
  } catch (e) {
    if (isErrno(e, 'EEXIST')) return false;
    if (isErrno(e, 'ENOENT')) throw e;
  }
  // The copy is written outside blobs/ so a crash never leaves a stray file in the layout.
  const tmp = join(tmpDir, `copy-${randomBytes(8).toString('hex')}`);
  try {
    await copyFile(src, tmp, fsConstants.COPYFILE_FICLONE);
    await fsyncFile(tmp);
    await rename(tmp, dst);
    return true;
  } catch (e) {
    await unlink(tmp).catch(() => undefined);
    throw e;
  }
}

/**
 * mkdir -p that gives up: Node's recursive mkdir loops forever where a file system answers
 * ENOENT to every create (e.g. under /proc). Each level is tried once after its parent.
 */
export async function makeDirectory(path: string): Promise<void> {
  try {
    await mkdir(path);
  } catch (e) {
    if (isErrno(e, 'EEXIST')) return;
    if (!isErrno(e, 'ENOENT') || dirname(path) === path) throw e;
    await makeDirectory(dirname(path));
    try {
      await mkdir(path);
    } catch (again) {
      if (!isErrno(again, 'EEXIST')) throw again;
    }
  }
}

export async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/** Set mtime to now; the file's size, or undefined when it does not exist. */
export async function touchFile(path: string): Promise<number | undefined> {
  const now = new Date();
  try {
    await utimes(path, now, now);
    const s = await stat(path);
    return s.isFile() ? s.size : undefined;
  } catch (e) {
    if (isErrno(e, 'ENOENT', 'ENOTDIR')) return undefined;
    throw e;
  }
}

/**
 * Where gc moves a link while it re-checks it (same directory, so the rename is atomic and
 * visible to every process). Dot-names are never blobs, so listings skip them.
 */
export function tombstoneOf(path: string): string {
  return join(dirname(path), `.gc-${basename(path)}`);
}
