import { link, readdir, readFile, rename, rm, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { DeleteGuard, GcObject, GcStore } from './gc-store.js';
import type { LayoutIndexes } from './fs-layout.js';
import { isErrno, tombstoneOf } from './fs-file-ops.js';
import { subjectOf } from './referrers.js';

/**
 * GcStore over a filesystem root. `regctl serve gc` runs it in its own process while the server
 * keeps serving the same root, so no decision may rest on in-process locks. It rests on the file
 * system instead:
 *  - a blob link is "modified" at max(mtime, ctime): the server touches (utimes) blobs a HEAD,
 *    mount or manifest PUT relies on, and adding a hard link (mount, another repository's
 *    upload) moves the inode's ctime;
 *  - a delete first renames the link to a tombstone beside it (atomic: from then on no process
 *    can find, touch or link it), then re-reads the tombstone's mtime: a touch that landed
 *    before the rename shows there, and the link is put back. A touch after the rename fails
 *    with ENOENT, so the server treats the blob as absent (the client uploads it again);
 *  - the content-store copy (_blobs/ALG/HEX) goes the same way, and only when no link is left;
 *  - index.json changes happen under REPO/.index.json.lock, which the server's writers hold too.
 */
/**
 * What collection needs of the filesystem backend, declared here so that this file does not
 * import fs.ts, which builds it (an import circle otherwise).
 */
export interface FsGcBackend {
  readonly layouts: LayoutIndexes;
  readonly uploads: { readonly dir: string };
  contentPath(digest: string): string;
  listRepositories(): Promise<string[]>;
  listUploads(): Promise<Array<{ repository: string; id: string; size: number; modified: number }>>;
}

export class FilesystemGcStore implements GcStore {
  /** Tombstones older than this are left over from a gc that died; they are put back. */
  private readonly tombstoneAgeMs: number;

  constructor(
    private readonly fs: FsGcBackend,
    options: { tombstoneAgeMs?: number } = {},
  ) {
    this.tombstoneAgeMs = options.tombstoneAgeMs ?? 60_000;
  }

  private readonly problems: string[] = [];
  private readonly checked = new Map<string, Promise<boolean>>();

  listRepositories(): Promise<string[]> {
    // A new run (scheduleGc reuses the store): judge every index.json afresh.
    this.checked.clear();
    this.problems.length = 0;
    return this.fs.listRepositories();
  }

  warnings(): string[] {
    return this.problems.splice(0);
  }

  /**
   * The server reads an index.json it cannot parse as empty (so it keeps serving); gc must not:
   * every blob of that repository would look unreachable. Such a repository is left alone.
   */
  private readable(repository: string): Promise<boolean> {
    let p = this.checked.get(repository);
    if (!p) {
      p = (async () => {
        try {
          const doc = JSON.parse(await readFile(join(this.fs.layouts.dir(repository), 'index.json'), 'utf8')) as { manifests?: unknown };
          if (typeof doc === 'object' && doc !== null && Array.isArray(doc.manifests)) return true;
        } catch (e) {
          if (isErrno(e, 'ENOENT', 'ENOTDIR')) return true;
        }
        this.problems.push(`${repository}: index.json is not a valid OCI index; repository left untouched`);
        return false;
      })();
      // Judged once per run, so a repository is never half collected.
      this.checked.set(repository, p);
    }
    return p;
  }

  async listTags(repository: string): Promise<Array<{ tag: string; digest: string }>> {
    if (!(await this.readable(repository))) return [];
    const state = await this.fs.layouts.read(repository);
    return state ? [...state.tags].map(([tag, d]) => ({ tag, digest: d.digest })) : [];
  }

  async listManifests(repository: string): Promise<GcObject[]> {
    if (!(await this.readable(repository))) return [];
    const state = await this.fs.layouts.read(repository);
    if (!state) return [];
    const out: GcObject[] = [];
    for (const [digest, entries] of state.byDigest) {
      const s = await stat(this.fs.layouts.blobPath(repository, digest)).catch(() => undefined);
      out.push({ digest, size: s?.size ?? entries[0]?.size ?? 0, modified: s ? modified(s) : 0 });
    }
    return out;
  }

  async readManifest(repository: string, digest: string): Promise<Uint8Array | undefined> {
    try {
      return await readFile(this.fs.layouts.blobPath(repository, digest));
    } catch (e) {
      if (isErrno(e, 'ENOENT', 'ENOTDIR')) return undefined;
      throw e;
    }
  }

  async listBlobs(repository: string): Promise<GcObject[]> {
    if (!(await this.readable(repository))) return [];
    const top = join(this.fs.layouts.dir(repository), 'blobs');
    const out: GcObject[] = [];
    for (const alg of await readdir(top).catch(() => [] as string[])) {
      const dir = join(top, alg);
      for (const hex of await readdir(dir).catch(() => [] as string[])) {
        if (hex.startsWith(TOMB_PREFIX)) await recoverTombstone(join(dir, hex), this.tombstoneAgeMs);
        if (hex.startsWith('.')) continue;
        const s = await stat(join(dir, hex)).catch(() => undefined);
        if (s?.isFile()) out.push({ digest: `${alg}:${hex}`, size: s.size, modified: modified(s) });
      }
    }
    return out;
  }

  async deleteManifest(repository: string, digest: string, guard: DeleteGuard): Promise<boolean> {
    const path = this.fs.layouts.blobPath(repository, digest);
    const old = async () => {
      const s = await stat(path).catch(() => undefined);
      return s === undefined || modified(s) < guard.notModifiedSince;
    };
    const bytes = await readFile(path).catch(() => undefined);
    if (!(await this.fs.layouts.removeIfUntagged(repository, digest, old))) return false;
    // The entry is gone; its bytes go the careful way (a concurrent PUT of the same manifest
    // touched them, and then they stay for it).
    await this.removeLink(path, digest, guard);
    const subject = subjectOf(bytes);
    if (subject !== undefined) {
      const [alg, hex] = subject.split(':') as [string, string];
      await rm(join(this.fs.layouts.dir(repository), '_referrers', alg, hex, `${digest.replace(':', '-')}.json`), { force: true });
    }
    return true;
  }

  async deleteBlob(repository: string, digest: string, guard: DeleteGuard): Promise<boolean> {
    return this.removeLink(this.fs.layouts.blobPath(repository, digest), digest, guard);
  }

  async listUploads(): Promise<Array<{ repository: string; id: string; size: number; modified: number }>> {
    return this.fs.listUploads();
  }

  async deleteUpload(_repository: string, id: string): Promise<boolean> {
    if (!/^[0-9a-f]{32}$/.test(id)) return false;
    await rm(join(this.fs.uploads.dir, id), { recursive: true, force: true });
    return true;
  }

  /** Remove one link (and the content copy if it was the last), unless touched since the guard. */
  private async removeLink(path: string, digest: string, guard: DeleteGuard): Promise<boolean> {
    const s = await stat(path).catch(() => undefined);
    if (!s || modified(s) >= guard.notModifiedSince) return false;
    if (!(await setAside(path, guard))) return false;
    const content = this.fs.contentPath(digest);
    const c = await stat(content).catch(() => undefined);
    // nlink 1: the content store's own name is the last one.
    if (c && c.nlink <= 1 && c.mtimeMs < guard.notModifiedSince) await setAside(content, guard, true);
    return true;
  }
}

/**
 * Rename `path` to its tombstone, re-check the tombstone, and either remove it (true) or put it
 * back (false). `lastLink`: also put back if another link appeared before the rename.
 */
async function setAside(path: string, guard: DeleteGuard, lastLink = false): Promise<boolean> {
  const tomb = tombstoneOf(path);
  try {
    await rename(path, tomb);
  } catch (e) {
    if (isErrno(e, 'ENOENT')) return false;
    throw e;
  }
  const t = await stat(tomb).catch(() => undefined);
  if (!t) return false; // another gc put it back meanwhile
  // rename moves ctime, so only mtime (what a touch sets) tells here.
  if (t.mtimeMs >= guard.notModifiedSince || (lastLink && t.nlink > 1)) {
    try {
      await link(tomb, path);
    } catch (e) {
      // EEXIST: the server stored the same bytes there meanwhile, which is just as good.
      if (!isErrno(e, 'EEXIST')) throw e;
    }
    await unlink(tomb).catch(() => undefined);
    return false;
  }
  try {
    await unlink(tomb);
  } catch (e) {
    if (isErrno(e, 'ENOENT')) return false;
    throw e;
  }
  return true;
}

const TOMB_PREFIX = '.gc-';

/**
 * A tombstone older than `ageMs` (default a minute) was left by a gc that died between setting a link aside and
 * deciding: put it back (keeping garbage is harmless; losing a blob in use is not). The next
 * run judges it again.
 */
async function recoverTombstone(tomb: string, ageMs: number): Promise<void> {
  const t = await stat(tomb).catch(() => undefined);
  if (!t || Date.now() - t.ctimeMs < ageMs) return;
  const path = join(dirname(tomb), basename(tomb).slice(TOMB_PREFIX.length));
  try {
    await link(tomb, path);
  } catch (e) {
    if (!isErrno(e, 'EEXIST')) return;
  }
  await unlink(tomb).catch(() => undefined);
}

function modified(s: { mtimeMs: number; ctimeMs: number }): number {
  return Math.max(s.mtimeMs, s.ctimeMs);
}
