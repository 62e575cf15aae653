import { randomBytes } from 'node:crypto';
import { link, mkdir, open, readdir, readFile, rename, rm, stat, unlink, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { GcStore } from './gc-store.js';
import type { Readable, Writable } from 'node:stream';
import { parseDigest } from '../../oci/digest.js';
import type { Descriptor } from '../../oci/manifest.js';
import { OciError } from '../protocol/errors.js';
import { compareCodeUnits, LayoutIndexes } from './fs-layout.js';
import { UploadSessions } from './fs-uploads.js';
import { VerifiedUploads } from './verified-uploads.js';
import { exists, fsyncFile, isErrno, linkOrCopy, makeDirectory, touchFile, tombstoneOf, writeFileAtomic } from './fs-file-ops.js';
import { FilesystemGcStore } from './fs-gc.js';
import { clearLeftovers, type LeftoverReport } from './fs-startup.js';
import { ByteCache } from './byte-cache.js';
import { checkTagCap } from './tag-cap.js';
import { referrerDescriptor, subjectOf } from './referrers.js';
import { sendFileRange } from './fs-send.js';
import { KeyedMutex } from './mutex.js';
import type { BlobInfo, ByteRange, ManifestRecord, PutManifestOptions, RegistryStorage, StoredManifest, UploadInfo } from './types.js';

/**
 * Filesystem storage. Layout under ROOT:
 *   REPO/oci-layout, REPO/index.json, REPO/blobs/ALG/HEX   each repository is an OCI image layout
 *   REPO/_referrers/ALG/SUBJECTHEX/ALG-HEX.json            referrer descriptors, by subject
 *   _blobs/ALG/HEX                                         content store: one inode per digest,
 *                                                          hard-linked into every repository
 *   _uploads/ID/{info.json,data}                           upload sessions (survive restarts)
 *   _tmp/                                                  scratch for manifest writes
 * Names starting with "_" cannot be repository components, so none of these collide.
 */
export class FilesystemStorage implements RegistryStorage {
  readonly tagCas = true;
  readonly root: string;
  /** Shared with the gc adapter (fs-gc.ts), which lives beside this class. */
  readonly layouts: LayoutIndexes;
  readonly uploads: UploadSessions;
  private readonly verified: VerifiedUploads;
  private readonly digestLocks = new KeyedMutex();
  /** Manifest bytes by digest (content-addressed, so never stale). */
  private readonly manifestBytes = new ByteCache(16 << 20);
  private readonly tmpDir: string;

  constructor(root: string) {
    this.root = root;
    this.layouts = new LayoutIndexes(root);
    this.uploads = new UploadSessions(root);
    this.verified = new VerifiedUploads({
      appendBytes: (repo, id, chunks, offset) => this.uploads.append(repo, id, chunks, offset),
      uploadSize: async (repo, id) => (await this.uploads.require(repo, id)).size,
      readUpload: async (repo, id) => this.uploads.read(id, (await this.uploads.require(repo, id)).size),
      commitUpload: (repo, id, digest, size) => this.commitUpload(repo, id, digest, size),
    });
    this.uploads.onRemove = (id) => this.verified.forget(id);
    this.tmpDir = join(root, '_tmp');
  }

  /**
   * Create the root and clear what a crash may have left: scratch files, temporary files of
   * atomic writes, upload sessions of a process that is gone (fs-startup.ts). Says what it removed.
   */
  async init(): Promise<LeftoverReport> {
    await makeDirectory(this.root);
    await mkdir(join(this.root, '_blobs'), { recursive: true });
    await mkdir(this.uploads.dir, { recursive: true });
    await rm(this.tmpDir, { recursive: true, force: true });
    await mkdir(this.tmpDir, { recursive: true });
    return clearLeftovers(this.root, this.uploads);
  }

  contentPath(digest: string): string {
    const colon = digest.indexOf(':');
    return join(this.root, '_blobs', digest.slice(0, colon), digest.slice(colon + 1));
  }

  // ---- repositories

  async listRepositories(): Promise<string[]> {
    const out: string[] = [];
    const walk = async (dir: string, prefix: string): Promise<void> => {
      let entries;
      try {
        entries = await readdir(dir, { withFileTypes: true });
      } catch {
        return;
      }
      const isLayout = entries.some((e) => e.name === 'index.json' && e.isFile());
      if (isLayout && prefix !== '') out.push(prefix);
      for (const e of entries) {
        if (!e.isDirectory() || e.name.startsWith('_') || e.name.startsWith('.')) continue;
        if (isLayout && e.name === 'blobs') continue;
        await walk(join(dir, e.name), prefix === '' ? e.name : `${prefix}/${e.name}`);
      }
    };
    await walk(this.root, '');
    return out.sort(compareCodeUnits);
  }

  // ---- blobs

  async statBlob(repo: string, digest: string): Promise<BlobInfo | undefined> {
    try {
      const s = await stat(this.layouts.blobPath(repo, digest));
      return s.isFile() ? { digest, size: s.size } : undefined;
    } catch (e) {
      if (isErrno(e, 'ENOENT', 'ENOTDIR')) return undefined;
      throw e;
    }
  }

  /**
   * statBlob that also bumps the blob's modification time, so a gc running now (possibly in
   * another process) keeps it: used when a client learns a blob exists and will rely on it
   * (HEAD before skipping an upload, manifest PUT, mount). A blob that gc holds aside while it
   * re-checks (its tombstone exists) is waited for briefly: gc either puts it back or removes it.
   */
  async touchBlob(repo: string, digest: string): Promise<BlobInfo | undefined> {
    const path = this.layouts.blobPath(repo, digest);
    for (let attempt = 0; ; attempt++) {
      const size = await touchFile(path);
      if (size !== undefined) return { digest, size };
      if (attempt >= 40 || !(await exists(tombstoneOf(path)))) return undefined;
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  async readBlob(repo: string, digest: string, range?: ByteRange): Promise<Readable> {
    const fh = await this.openBlobFile(repo, digest);
    // 1 MiB reads: fewer round trips through the stream machinery per byte served.
    return fh.createReadStream({ start: range?.start, end: range?.end, highWaterMark: 1 << 20 });
  }

  async openBlobSender(repo: string, digest: string, range?: ByteRange): Promise<(out: Writable) => Promise<void>> {
    const fh = await this.openBlobFile(repo, digest);
    return async (out) => {
      try {
        const end = range ? range.end : (await fh.stat()).size - 1;
        await sendFileRange(fh, range?.start ?? 0, end, out);
      } finally {
        await fh.close();
      }
    };
  }

  /** Open first so a missing blob is an error here, not a stream error after headers went out. */
  private async openBlobFile(repo: string, digest: string): Promise<FileHandle> {
    try {
      return await open(this.layouts.blobPath(repo, digest), 'r');
    } catch (e) {
      if (isErrno(e, 'ENOENT', 'ENOTDIR')) throw new OciError('BLOB_UNKNOWN', `blob ${digest} is not in ${repo}`);
      throw e;
    }
  }

  async deleteBlob(repo: string, digest: string): Promise<boolean> {
    return this.digestLocks.run(digest, async () => {
      try {
        await unlink(this.layouts.blobPath(repo, digest));
      } catch (e) {
        if (isErrno(e, 'ENOENT', 'ENOTDIR')) return false;
        throw e;
      }
      // Drop the content-store copy once no repository links to it.
      try {
        const s = await stat(this.contentPath(digest));
        if (s.nlink <= 1) await unlink(this.contentPath(digest));
      } catch {
        // already gone
      }
      return true;
    });
  }

  async mountBlob(repo: string, digest: string, from?: string): Promise<boolean> {
    const source = from !== undefined ? this.layouts.blobPath(from, digest) : this.contentPath(digest);
    if (!(await exists(source))) return false;
    await this.layouts.ensure(repo, parseDigest(digest).algorithm);
    const target = this.layouts.blobPath(repo, digest);
    return this.digestLocks.run(digest, async () => {
      try {
        await linkOrCopy(source, target, this.tmpDir);
      } catch (e) {
        if (isErrno(e, 'ENOENT')) return false;
        throw e;
      }
      // Only a link that could be touched counts: gc may have set it aside a moment ago.
      return (await touchFile(target)) !== undefined;
    });
  }

  /**
   * Make a verified, fsynced file the content of `digest` in `repo`: rename it into the
   * content store (unless that digest is already there), then hard-link it into the repository.
   */
  private async commitContent(repo: string, digest: string, file: string): Promise<void> {
    const alg = parseDigest(digest).algorithm;
    await this.layouts.ensure(repo, alg);
    await this.digestLocks.run(digest, async () => {
      const content = this.contentPath(digest);
      const target = this.layouts.blobPath(repo, digest);
      // `file` is deleted only once the repository link exists and was touched: until then a
      // gc in another process may remove the content-store copy, and the upload must survive it.
      for (let attempt = 0; attempt < 8; attempt++) {
        try {
          await linkOrCopy(content, target, this.tmpDir);
          if ((await touchFile(target)) !== undefined) {
            await unlink(file).catch(() => undefined);
            return;
          }
          continue; // set aside by gc right after linking: link again
        } catch (e) {
          if (!isErrno(e, 'ENOENT')) throw e;
        }
        if (!(await exists(content))) {
          await mkdir(dirname(content), { recursive: true });
          await rename(file, content);
        } else {
          // The repository directory was removed behind our back: lay it out again.
          this.layouts.forget(repo);
          await this.layouts.ensure(repo, alg);
        }
      }
      throw new Error(`could not store blob ${digest}`);
    });
  }

  /**
   * A verified file of the caller's on this file system becomes the blob by a hard link (the
   * content store gets a second name for the same bytes; nothing is copied). The caller's name
   * stays valid for its readers; the caller removes it when done.
   */
  async adoptVerifiedFile(repo: string, digest: string, path: string, size: number): Promise<boolean> {
    parseDigest(digest);
    const info = await stat(path);
    if (!info.isFile() || info.size !== size) throw new Error(`file for ${digest} has ${info.size} bytes, not ${size}`);
    await fsyncFile(path);
    await mkdir(this.tmpDir, { recursive: true });
    const staged = join(this.tmpDir, `adopt-${randomBytes(8).toString('hex')}`);
    try {
      await link(path, staged);
    } catch (e) {
      if (isErrno(e, 'EXDEV', 'EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'EMLINK')) return false;
      throw e;
    }
    try {
      await this.commitContent(repo, digest, staged);
    } finally {
      await unlink(staged).catch(() => undefined);
    }
    return true;
  }

  // ---- uploads

  createUpload(repo: string): Promise<UploadInfo> {
    return this.uploads.create(repo);
  }

  statUpload(repo: string, id: string): Promise<UploadInfo | undefined> {
    return this.uploads.stat(repo, id);
  }

  appendUpload(repo: string, id: string, body: Readable, offset?: number): Promise<UploadInfo> {
    return this.verified.append(repo, id, body, offset);
  }

  completeUpload(repo: string, id: string, digest: string): Promise<BlobInfo> {
    return this.verified.complete(repo, id, digest);
  }

  /** The bytes of a verified session become the blob (the data file is linked, not copied). */
  private commitUpload(repo: string, id: string, digest: string, size: number): Promise<BlobInfo> {
    return this.uploads.withLock(id, async () => {
      if ((await this.uploads.require(repo, id)).size !== size) {
        throw new OciError('BLOB_UPLOAD_INVALID', 'the upload session changed while it was verified; start again');
      }
      const data = this.uploads.dataPath(id);
      await fsyncFile(data);
      await this.commitContent(repo, digest, data);
      await this.uploads.remove(id);
      return { digest, size };
    });
  }

  cancelUpload(repo: string, id: string): Promise<boolean> {
    return this.uploads.cancel(repo, id);
  }

  purgeUploads(maxAgeMs: number): Promise<number> {
    return this.uploads.purge(maxAgeMs);
  }

  // ---- manifests and tags

  async getManifest(repo: string, digest: string): Promise<StoredManifest | undefined> {
    return this.manifestIn(repo, await this.layouts.read(repo), digest);
  }

  /** Tag -> manifest on one read of index.json (a HEAD by tag otherwise validates it twice). */
  async getManifestByTag(repo: string, tag: string): Promise<StoredManifest | undefined> {
    const state = await this.layouts.read(repo);
    const digest = state?.tags.get(tag)?.digest;
    return digest === undefined ? undefined : this.manifestIn(repo, state, digest);
  }

  private async manifestIn(repo: string, state: Awaited<ReturnType<LayoutIndexes['read']>>, digest: string): Promise<StoredManifest | undefined> {
    const entry = state?.byDigest.get(digest)?.[0];
    if (!entry) return undefined;
    // The current index.json lists it, so its bytes exist (written before the index, removed
    // after it): bytes read once serve every later HEAD/GET (4 file operations each, measured
    // as most of the server's CPU for a HEAD).
    const cached = this.manifestBytes.get(digest);
    if (cached) return { digest, mediaType: entry.mediaType, bytes: cached };
    try {
      const bytes = await readFile(this.layouts.blobPath(repo, digest));
      this.manifestBytes.set(digest, bytes);
      return { digest, mediaType: entry.mediaType, bytes };
    } catch (e) {
      if (isErrno(e, 'ENOENT')) return undefined;
      throw e;
    }
  }

  async resolveTag(repo: string, tag: string): Promise<string | undefined> {
    return (await this.layouts.read(repo))?.tags.get(tag)?.digest;
  }

  async putManifest(repo: string, m: ManifestRecord, tags: string[], options: PutManifestOptions = {}): Promise<void> {
    // Refused before any byte is written when the cached index says so; index.json's writer
    // checks again under the lock (concurrent pushes).
    const state = options.maxTags === undefined || tags.length === 0 ? undefined : await this.layouts.read(repo);
    if (state) checkTagCap(repo, state.tags.size, (t) => state.tags.has(t), tags, options.maxTags);
    // 1. the bytes, as a blob (fsynced, atomic); 2. the referrer record; 3. index.json.
    // A crash between steps leaves unreferenced files, never a tag to missing content.
    // Re-tagging a manifest the repository already holds writes nothing but index.json.
    if ((await this.touchBlob(repo, m.digest))?.size !== m.bytes.length) {
      const tmp = join(this.tmpDir, randomBytes(8).toString('hex'));
      await writeFileAtomic(tmp, m.bytes);
      await this.commitContent(repo, m.digest, tmp);
    }
    if (m.subject) {
      const desc = referrerDescriptor(m);
      await this.writeReferrer(repo, m.subject, m.digest, desc);
    }
    const base: Descriptor = { mediaType: m.mediaType, digest: m.digest, size: m.bytes.length };
    await this.layouts.apply(repo, {
      op: 'put',
      desc: base,
      tags,
      ...(options.maxTags !== undefined ? { maxTags: options.maxTags } : {}),
      ...(options.ifTag ? { ifTag: options.ifTag } : {}),
    });
  }

  async deleteManifest(repo: string, digest: string): Promise<boolean> {
    const stored = await this.getManifest(repo, digest);
    if (!stored) return false;
    await this.layouts.apply(repo, { op: 'remove', digest });
    const subject = subjectOf(stored.bytes);
    if (subject) await rm(this.referrerPath(repo, subject, digest), { force: true });
    await this.deleteBlob(repo, digest);
    return true;
  }

  async deleteRepository(repo: string): Promise<boolean> {
    return this.layouts.removeRepository(repo, (d) => this.contentPath(d));
  }

  async deleteTag(repo: string, tag: string): Promise<boolean> {
    if ((await this.layouts.read(repo)) === undefined) return false;
    return this.layouts.apply(repo, { op: 'untag', tag });
  }

  /**
   * The mtime of the manifest's file in the repository: written (or touched) by every push of
   * it. A blob HEAD on a manifest digest, or the same manifest pushed to another repository
   * (hard links share the inode), also moves it.
   */
  async manifestPushedAt(repo: string, digest: string): Promise<number | undefined> {
    try {
      return (await stat(this.layouts.blobPath(repo, digest))).mtimeMs;
    } catch {
      return undefined;
    }
  }

  async listTags(repo: string): Promise<string[] | undefined> {
    return (await this.layouts.read(repo))?.sortedTags;
  }

  async listTagDescriptors(repo: string): Promise<Array<[string, { mediaType: string; digest: string; size: number }]> | undefined> {
    const state = await this.layouts.read(repo);
    if (!state) return undefined;
    return state.sortedTags.map((t) => {
      const d = state.tags.get(t)!;
      return [t, { mediaType: d.mediaType, digest: d.digest, size: d.size }];
    });
  }

  // ---- referrers

  private referrerPath(repo: string, subject: string, digest: string): string {
    const [alg, hex] = subject.split(':') as [string, string];
    return join(this.layouts.dir(repo), '_referrers', alg, hex, `${digest.replace(':', '-')}.json`);
  }

  private async writeReferrer(repo: string, subject: string, digest: string, desc: Descriptor): Promise<void> {
    const path = this.referrerPath(repo, subject, digest);
    await mkdir(dirname(path), { recursive: true });
    await writeFileAtomic(path, JSON.stringify(desc));
  }

  async listReferrers(repo: string, digest: string): Promise<Descriptor[]> {
    const state = await this.layouts.read(repo);
    if (!state) return [];
    const dir = dirname(this.referrerPath(repo, digest, 'sha256:x'));
    let names: string[];
    try {
      names = await readdir(dir);
    } catch {
      return [];
    }
    const out: Descriptor[] = [];
    for (const name of names.sort()) {
      if (!name.endsWith('.json') || name.startsWith('.')) continue;
      try {
        const desc = JSON.parse(await readFile(join(dir, name), 'utf8')) as Descriptor;
        // Written before index.json: only count referrers the index knows (crash between the two).
        if (state.byDigest.has(desc.digest)) out.push(desc);
      } catch {
        // unreadable record: skip
      }
    }
    return out;
  }

  // ---- operations

  /** Online gc over this root; works from another process too (decisions rest on the file system). */
  gcStore(options: { tombstoneAgeMs?: number } = {}): GcStore {
    return new FilesystemGcStore(this, options);
  }

  /** Upload sessions on disk (for the upload limiter after a restart, and gc). */
  listUploads(): Promise<Array<{ repository: string; id: string; size: number; modified: number; maxIdleMs?: number }>> {
    return this.uploads.list();
  }

  /** Blob bytes and count in the content store (each digest once). */
  async stats(): Promise<{ bytes: number; blobs: number }> {
    let bytes = 0;
    let blobs = 0;
    const top = join(this.root, '_blobs');
    for (const alg of await readdir(top).catch(() => [] as string[])) {
      const dir = join(top, alg);
      for (const name of await readdir(dir).catch(() => [] as string[])) {
        if (name.startsWith('.')) continue;
        const s = await stat(join(dir, name)).catch(() => undefined);
        if (s?.isFile()) {
          bytes += s.size;
          blobs++;
        }
      }
    }
    return { bytes, blobs };
  }

  async close(): Promise<void> {}
}
