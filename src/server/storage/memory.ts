import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import type { Descriptor } from '../../oci/manifest.js';
import { VerifiedUploads } from './verified-uploads.js';
import { checkTagCondition, OciError, uploadRangeError } from '../protocol/errors.js';
import { compareCodeUnits } from './fs-layout.js';
import { checkTagCap } from './tag-cap.js';
import { referrerDescriptor } from './referrers.js';
import type { DeleteGuard, GcObject, GcStore } from './gc-store.js';
import type { BlobInfo, ByteRange, ManifestRecord, PutManifestOptions, RegistryStorage, StoredManifest, UploadInfo } from './types.js';

interface Repo {
  blobs: Set<string>;
  /** When each blob link was last added or touched (ms), for gc's grace period. */
  touched: Map<string, number>;
  manifests: Map<string, ManifestRecord>;
  /** When each manifest was last pushed (ms). */
  pushed: Map<string, number>;
  tags: Map<string, string>;
}

interface Upload {
  repository: string;
  chunks: Buffer[];
  size: number;
  startedAt: number;
  touchedAt: number;
}

/**
 * Everything in memory: for tests and throwaway servers. Blobs are held whole here by design
 * (test data is small); semantics match the filesystem backend.
 */
export class MemoryStorage implements RegistryStorage {
  /** `now`: the clock push times are recorded with. */
  constructor(private readonly now: () => number = Date.now) {}

  readonly tagCas = true;
  private readonly content = new Map<string, Buffer>();
  private readonly repos = new Map<string, Repo>();
  private readonly uploads = new Map<string, Upload>();
  private readonly verified = new VerifiedUploads({
    appendBytes: (repo, id, chunks, offset) => this.appendBytes(repo, id, chunks, offset),
    uploadSize: async (repo, id) => this.upload(repo, id).size,
    readUpload: async (repo, id) => Readable.from(this.upload(repo, id).chunks.slice()),
    commitUpload: async (repo, id, digest) => this.commitUpload(repo, id, digest),
  });

  private repo(name: string, create: true): Repo;
  private repo(name: string, create?: false): Repo | undefined;
  private repo(name: string, create = false): Repo | undefined {
    let r = this.repos.get(name);
    if (!r && create) {
      r = { blobs: new Set(), touched: new Map(), manifests: new Map(), pushed: new Map(), tags: new Map() };
      this.repos.set(name, r);
    }
    return r;
  }

  private link(r: Repo, digest: string): void {
    r.blobs.add(digest);
    r.touched.set(digest, Date.now());
  }

  async listRepositories(): Promise<string[]> {
    return [...this.repos.keys()].sort(compareCodeUnits);
  }

  async statBlob(repo: string, digest: string): Promise<BlobInfo | undefined> {
    if (!this.repo(repo)?.blobs.has(digest)) return undefined;
    return { digest, size: this.content.get(digest)!.length };
  }

  async readBlob(repo: string, digest: string, range?: ByteRange): Promise<Readable> {
    if (!this.repo(repo)?.blobs.has(digest)) throw new OciError('BLOB_UNKNOWN', `blob ${digest} is not in ${repo}`);
    const data = this.content.get(digest)!;
    return Readable.from([range ? data.subarray(range.start, range.end + 1) : data]);
  }

  async deleteBlob(repo: string, digest: string): Promise<boolean> {
    const r = this.repo(repo);
    if (!r?.blobs.delete(digest)) return false;
    if (![...this.repos.values()].some((x) => x.blobs.has(digest))) this.content.delete(digest);
    return true;
  }

  async mountBlob(repo: string, digest: string, from?: string): Promise<boolean> {
    const present = from !== undefined ? this.repo(from)?.blobs.has(digest) : this.content.has(digest);
    if (!present) return false;
    this.link(this.repo(repo, true), digest);
    return true;
  }

  async createUpload(repo: string): Promise<UploadInfo> {
    const id = randomBytes(16).toString('hex');
    const now = Date.now();
    this.uploads.set(id, { repository: repo, chunks: [], size: 0, startedAt: now, touchedAt: now });
    return { id, repository: repo, size: 0, startedAt: now };
  }

  private upload(repo: string, id: string): Upload {
    const u = this.uploads.get(id);
    if (!u || u.repository !== repo) throw new OciError('BLOB_UPLOAD_UNKNOWN', 'unknown upload session');
    return u;
  }

  async statUpload(repo: string, id: string): Promise<UploadInfo | undefined> {
    const u = this.uploads.get(id);
    if (!u || u.repository !== repo) return undefined;
    return { id, repository: repo, size: u.size, startedAt: u.startedAt };
  }

  appendUpload(repo: string, id: string, body: Readable, offset?: number): Promise<UploadInfo> {
    return this.verified.append(repo, id, body, offset);
  }

  private async appendBytes(repo: string, id: string, chunks: AsyncIterable<Buffer>, offset?: number): Promise<UploadInfo> {
    const u = this.upload(repo, id);
    if (offset !== undefined && offset !== u.size) throw uploadRangeError(u.size);
    for await (const b of chunks) {
      u.chunks.push(b);
      u.size += b.length;
    }
    u.touchedAt = Date.now();
    return { id, repository: repo, size: u.size, startedAt: u.startedAt };
  }

  completeUpload(repo: string, id: string, digest: string): Promise<BlobInfo> {
    return this.verified.complete(repo, id, digest);
  }

  private commitUpload(repo: string, id: string, digest: string): BlobInfo {
    const data = Buffer.concat(this.upload(repo, id).chunks);
    if (!this.content.has(digest)) this.content.set(digest, data);
    this.link(this.repo(repo, true), digest);
    this.uploads.delete(id);
    return { digest, size: data.length };
  }

  async cancelUpload(repo: string, id: string): Promise<boolean> {
    const u = this.uploads.get(id);
    if (!u || u.repository !== repo) return false;
    this.uploads.delete(id);
    this.verified.forget(id);
    return true;
  }

  async purgeUploads(maxAgeMs: number): Promise<number> {
    const cutoff = Date.now() - maxAgeMs;
    let n = 0;
    for (const [id, u] of this.uploads) {
      if (u.touchedAt < cutoff) {
        this.uploads.delete(id);
        this.verified.forget(id);
        n++;
      }
    }
    return n;
  }

  async getManifest(repo: string, digest: string): Promise<StoredManifest | undefined> {
    const m = this.repo(repo)?.manifests.get(digest);
    return m ? { digest: m.digest, mediaType: m.mediaType, bytes: m.bytes } : undefined;
  }

  async resolveTag(repo: string, tag: string): Promise<string | undefined> {
    return this.repo(repo)?.tags.get(tag);
  }

  async putManifest(repo: string, m: ManifestRecord, tags: string[], options: PutManifestOptions = {}): Promise<void> {
    const existing = this.repo(repo);
    // No await from here to the last write: the check and the update are one step.
    if (options.ifTag) checkTagCondition(repo, options.ifTag, existing?.tags.get(options.ifTag.tag));
    if (existing) checkTagCap(repo, existing.tags.size, (t) => existing.tags.has(t), tags, options.maxTags);
    else checkTagCap(repo, 0, () => false, tags, options.maxTags);
    const r = this.repo(repo, true);
    if (!this.content.has(m.digest)) this.content.set(m.digest, m.bytes);
    this.link(r, m.digest);
    r.manifests.set(m.digest, m);
    r.pushed.set(m.digest, this.now());
    for (const t of tags) r.tags.set(t, m.digest);
  }

  async deleteManifest(repo: string, digest: string): Promise<boolean> {
    const r = this.repo(repo);
    if (!r?.manifests.delete(digest)) return false;
    r.pushed.delete(digest);
    for (const [t, d] of r.tags) if (d === digest) r.tags.delete(t);
    await this.deleteBlob(repo, digest);
    return true;
  }

  async deleteRepository(repo: string): Promise<boolean> {
    const r = this.repos.get(repo);
    if (!r) return false;
    this.repos.delete(repo);
    for (const d of r.blobs) if (![...this.repos.values()].some((x) => x.blobs.has(d))) this.content.delete(d);
    return true;
  }

  async deleteTag(repo: string, tag: string): Promise<boolean> {
    return this.repo(repo)?.tags.delete(tag) ?? false;
  }

  async manifestPushedAt(repo: string, digest: string): Promise<number | undefined> {
    return this.repo(repo)?.pushed.get(digest);
  }

  async listTags(repo: string): Promise<string[] | undefined> {
    const r = this.repo(repo);
    return r ? [...r.tags.keys()].sort(compareCodeUnits) : undefined;
  }

  async listTagDescriptors(repo: string): Promise<Array<[string, { mediaType: string; digest: string; size: number }]> | undefined> {
    const r = this.repo(repo);
    if (!r) return undefined;
    return [...r.tags.keys()].sort(compareCodeUnits).flatMap((t): Array<[string, { mediaType: string; digest: string; size: number }]> => {
      const m = r.manifests.get(r.tags.get(t)!);
      return m ? [[t, { mediaType: m.mediaType, digest: m.digest, size: m.bytes.length }]] : [];
    });
  }

  async listReferrers(repo: string, digest: string): Promise<Descriptor[]> {
    const r = this.repo(repo);
    if (!r) return [];
    return [...r.manifests.values()]
      .filter((m) => m.subject === digest)
      .sort((a, b) => compareCodeUnits(a.digest, b.digest))
      .map(referrerDescriptor);
  }

  async touchBlob(repo: string, digest: string): Promise<BlobInfo | undefined> {
    const r = this.repo(repo);
    if (!r?.blobs.has(digest)) return undefined;
    r.touched.set(digest, Date.now());
    return { digest, size: this.content.get(digest)!.length };
  }

  async listUploads(): Promise<Array<{ repository: string; id: string; size: number; modified: number }>> {
    return [...this.uploads].map(([id, u]) => ({ repository: u.repository, id, size: u.size, modified: u.touchedAt }));
  }

  async stats(): Promise<{ bytes: number; blobs: number }> {
    let bytes = 0;
    for (const b of this.content.values()) bytes += b.length;
    return { bytes, blobs: this.content.size };
  }

  /** Everything runs on one event loop here, so each check-and-delete is atomic by itself. */
  gcStore(): GcStore {
    const self = this;
    const objects = (r: Repo, digests: Iterable<string>): GcObject[] =>
      [...digests].map((d) => ({ digest: d, size: self.content.get(d)?.length ?? 0, modified: r.touched.get(d) ?? 0 }));
    const young = (r: Repo, d: string, g: DeleteGuard) => (r.touched.get(d) ?? 0) >= g.notModifiedSince;
    return {
      listRepositories: () => self.listRepositories(),
      listTags: async (repo) => [...(self.repo(repo)?.tags ?? [])].map(([tag, digest]) => ({ tag, digest })),
      listManifests: async (repo) => {
        const r = self.repo(repo);
        return r ? objects(r, r.manifests.keys()) : [];
      },
      readManifest: async (repo, digest) => self.repo(repo)?.manifests.get(digest)?.bytes,
      listBlobs: async (repo) => {
        const r = self.repo(repo);
        return r ? objects(r, r.blobs) : [];
      },
      deleteManifest: async (repo, digest, g) => {
        const r = self.repo(repo);
        if (!r?.manifests.has(digest) || young(r, digest, g) || [...r.tags.values()].includes(digest)) return false;
        return self.deleteManifest(repo, digest);
      },
      deleteBlob: async (repo, digest, g) => {
        const r = self.repo(repo);
        if (!r || young(r, digest, g)) return false;
        return self.deleteBlob(repo, digest);
      },
      listUploads: () => self.listUploads(),
      deleteUpload: async (repo, id) => self.cancelUpload(repo, id),
    };
  }

  async close(): Promise<void> {}
}
