import { randomBytes } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import { copyFile, link, mkdir, open, readFile, rename, rm, stat, unlink, utimes } from 'node:fs/promises';
import { dirname, join, basename } from 'node:path';

/**
 * The server's one atomic write (index.json, manifests, referrer descriptors, htpasswd): a temp
 * file beside `path` created exclusively, fsync, rename, fsync of the directory. Readers see the
 * old or the new content, never a mix, and the new content survives a crash or power loss once
 * this returns. `mode` (e.g. 0o600 for htpasswd) is set exactly, whatever the umask; without it
 * the file is 0o644 less the umask.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array, options: { mode?: number } = {}): Promise<void> {
  // The writer's pid in the name lets start-up cleanup (fs-startup.ts) tell a crash's leftover
  // from a file another live process (regctl serve gc) is writing right now.
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}-${randomBytes(6).toString('hex')}.tmp`);
  const fh = await open(tmp, 'wx', options.mode ?? 0o644);
  try {
    await fh.writeFile(data);
    if (options.mode !== undefined) await fh.chmod(options.mode);
    await fh.sync();
  } catch (e) {
    await fh.close().catch(() => undefined);
    await rm(tmp, { force: true });
    throw e;
  }
  await fh.close();
  try {
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
  await fsyncDirectory(dirname(path));
}

/** Make a rename or create in `dir` durable. Best effort: some file systems refuse to fsync a directory. */
export async function fsyncDirectory(dir: string): Promise<void> {
  const fh = await open(dir, 'r').catch(() => undefined);
  if (!fh) return;
  await fh.sync().catch(() => undefined);
  await fh.close();
}

/** A lock file left by a process that is gone, or (holder unknown) older than this, is taken over. */
const STALE_LOCK_MS = 30_000;

export class LockBusyError extends Error {
  constructor(readonly lock: string) {
    super(`${lock} is held by another process`);
  }
}

/**
 * The server's one lock file (REPO/.index.json.lock, FILE.htpasswd.lock): `lock` created
 * exclusively, holding the holder's pid, so writers in different processes take turns. A lock
 * whose process is gone (killed mid-write) is taken over at once; one whose pid cannot be read,
 * after 30 s. Waits with a growing pause (2 ms up to 20 ms) until `timeoutMs` (LockBusyError;
 * default: no limit). When the lock's directory is missing, `onMissingDirectory` may recreate it
 * (the lock is then tried again); without it the ENOENT error is thrown. Returns the release.
 */
export async function acquireLockFile(lock: string, options: { timeoutMs?: number; onMissingDirectory?: () => Promise<void> } = {}): Promise<() => Promise<void>> {
  const release = () => unlink(lock).catch(() => undefined);
  for (let waited = 0; ; ) {
    try {
      const fh = await open(lock, 'wx', 0o600);
      await fh.writeFile(String(process.pid)).finally(() => fh.close());
      return release;
    } catch (e) {
      if (isErrno(e, 'ENOENT') && options.onMissingDirectory) {
        await options.onMissingDirectory();
        continue;
      }
      if (!isErrno(e, 'EEXIST')) throw e;
      const s = await stat(lock).catch(() => undefined);
      const pid = Number(await readFile(lock, 'utf8').catch(() => ''));
      if (s && ((Number.isSafeInteger(pid) && pid > 0 && !processAlive(pid)) || Date.now() - s.mtimeMs > STALE_LOCK_MS)) {
        await unlink(lock).catch(() => undefined);
        continue;
      }
      if (options.timeoutMs !== undefined && waited >= options.timeoutMs) throw new LockBusyError(lock);
      const pause = Math.min(2 + waited / 10, 20);
      await new Promise((r) => setTimeout(r, pause));
      waited += pause;
    }
  }
}

/** Is a process with this pid running (ours or another user's)? */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: it exists, it just is not ours.
    return isErrno(e, 'EPERM');
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
