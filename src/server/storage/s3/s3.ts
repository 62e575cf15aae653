import pLimit from 'p-limit';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { Readable } from 'node:stream';
import { isValidDigest } from '../../../oci/digest.js';
import type { Descriptor } from '../../../oci/manifest.js';
import { checkTagCondition, OciError } from '../../protocol/errors.js';
import { compareCodeUnits } from '../fs-layout.js';
import type { BlobInfo, ByteRange, ManifestRecord, PutManifestOptions, RegistryStorage, StoredManifest, UploadInfo } from '../types.js';
import type { GcStore } from '../gc-store.js';
import { S3GcStore } from './gc-store.js';
import { Bucket, createS3Client, type S3ConnectOptions } from './bucket.js';
import { KeyLayout } from './keys.js';
import { UploadIds } from './upload-ids.js';
import { S3UploadSessions } from './uploads.js';
import { VerifiedUploads } from '../verified-uploads.js';
import { referrerDescriptor, subjectOf } from '../referrers.js';
import { checkTagCap } from '../tag-cap.js';

/** touchBlob rewrites a link at most this often (S3 timestamps are whole seconds anyway). */
const TOUCH_INTERVAL_MS = 10_000;

export interface S3StorageOptions extends S3ConnectOptions {
  bucket: string;
  /** Key prefix inside the bucket ("" or e.g. "registry/prod"). */
  prefix?: string;
  /** Secret every instance shares: signs upload ids (at least 16 bytes). */
  uploadSecret: Buffer | string;
  /** Blob GETs answer 307 to a presigned URL instead of streaming through this process. */
  redirect?: boolean;
  /** Lifetime of presigned URLs (default 900 s). */
  redirectTtlSeconds?: number;
  /** An existing client (tests); otherwise one is built from the options. */
  client?: S3Client;
}

/**
 * Registry storage in an S3 bucket (AWS S3 or any S3-compatible store). Every piece of state
 * is an object (see keys.ts), so any number of instances can serve the same bucket: nothing
 * lives in one process's memory except caches of facts that never become false.
 *
 * Consistency: every write is a whole-object PUT, which S3 makes atomic and strongly
 * read-after-write consistent. A tag is one object holding a digest, written only after the
 * manifest, its content and its links are in the bucket; two instances writing the same tag
 * leave one of the two digests (last writer wins), never a mix.
 *
 * Deleting a blob removes the repository's link; the content object itself is removed by GC
 * once no repository refers to it (it cannot know that cheaply at delete time).
 */
export class S3Storage implements RegistryStorage {
  readonly bucket: Bucket;
  readonly keys: KeyLayout;
  readonly redirect: boolean;
  private readonly uploads: S3UploadSessions;
  private readonly verified: VerifiedUploads;
  private readonly knownRepos = new Set<string>();
  private readonly redirectTtl: number;
  private readonly ownsClient: boolean;

  constructor(options: S3StorageOptions) {
    const client = options.client ?? createS3Client(options);
    this.ownsClient = options.client === undefined;
    this.bucket = new Bucket(client, options.bucket);
    this.keys = new KeyLayout((options.prefix ?? '').replace(/^\/+|\/+$/g, ''));
    this.redirect = options.redirect ?? false;
    this.redirectTtl = options.redirectTtlSeconds ?? 900;
    this.uploads = new S3UploadSessions(this.bucket, this.keys, new UploadIds(options.uploadSecret), (repo, digest, size) =>
      this.link(repo, digest, size),
    );
    const uploads = this.uploads;
    this.verified = new VerifiedUploads({
      appendBytes: (repo, id, chunks, offset) => uploads.append(repo, id, chunks, offset),
      uploadSize: (repo, id) => uploads.size(repo, id),
      readUpload: (repo, id) => uploads.read(repo, id),
      commitUpload: (repo, id, digest, size) => uploads.commit(repo, id, digest, size),
    });
    uploads.onRemove = (id) => this.verified.forget(id);
  }

  /** Fail early (one clear error) when the bucket is missing or not ours to use. */
  async init(): Promise<void> {
    try {
      await this.bucket.check();
    } catch (e) {
      const status = (e as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
      const why = status === 404 ? 'does not exist' : status === 403 ? 'is not accessible with these credentials' : `cannot be reached (${(e as Error).message})`;
      throw new Error(`S3 bucket "${this.bucket.name}" ${why}`);
    }
  }

  // ---- repositories

  private async ensureRepo(repo: string): Promise<void> {
    if (this.knownRepos.has(repo)) return;
    await this.bucket.put(this.keys.repoMarker(repo), '', { contentType: 'text/plain' });
    this.knownRepos.add(repo);
  }

  private async repoExists(repo: string): Promise<boolean> {
    if (this.knownRepos.has(repo)) return true;
    const found = (await this.bucket.head(this.keys.repoMarker(repo))) !== undefined;
    if (found) this.knownRepos.add(repo);
    return found;
  }

  async listRepositories(): Promise<string[]> {
    const prefix = this.keys.catalog();
    const out: string[] = [];
    for await (const o of this.bucket.list(prefix)) out.push(o.key.slice(prefix.length));
    return out.sort(compareCodeUnits);
  }

  // ---- blobs

  /** Make content visible in `repo`: the link (with its size), the reverse link, the catalog entry. */
  private async link(repo: string, digest: string, size: number): Promise<void> {
    await Promise.all([
      this.bucket.put(this.keys.link(repo, digest), '', { contentType: 'text/plain', metadata: { size: String(size) } }),
      this.bucket.put(this.keys.blobRef(digest, repo), '', { contentType: 'text/plain' }),
      this.ensureRepo(repo),
    ]);
  }

  async statBlob(repo: string, digest: string): Promise<BlobInfo | undefined> {
    const found = await this.linkedBlob(repo, digest);
    return found && { digest, size: found.size };
  }

  /** The repository's link to a blob and the blob's size (from the link, else the content object). */
  private async linkedBlob(repo: string, digest: string): Promise<{ size: number; modified: number } | undefined> {
    const link = await this.bucket.head(this.keys.link(repo, digest));
    if (!link) return undefined;
    let size = Number(link.metadata.size);
    if (!Number.isSafeInteger(size) || size < 0) {
      const content = await this.bucket.head(this.keys.content(digest));
      if (!content) return undefined;
      size = content.size;
    }
    return { size, modified: link.modified };
  }

  async readBlob(repo: string, digest: string, range?: ByteRange): Promise<Readable> {
    const [link, stream] = await Promise.all([this.bucket.head(this.keys.link(repo, digest)), this.bucket.getStream(this.keys.content(digest), range)]);
    if (!link || !stream) {
      stream?.destroy();
      throw new OciError('BLOB_UNKNOWN', `blob ${digest} is not in ${repo}`);
    }
    return stream;
  }

  /** With --s3-redirect: a presigned GET of the content (the handler checked the link). */
  async blobRedirectUrl(_repo: string, digest: string): Promise<string | undefined> {
    if (!this.redirect) return undefined;
    const { getSignedUrl } = await import('@aws-sdk/s3-request-presigner');
    return getSignedUrl(this.bucket.client, new GetObjectCommand({ Bucket: this.bucket.name, Key: this.keys.content(digest) }), {
      expiresIn: this.redirectTtl,
    });
  }

  async deleteBlob(repo: string, digest: string): Promise<boolean> {
    if (!(await this.bucket.head(this.keys.link(repo, digest)))) return false;
    await Promise.all([this.bucket.delete(this.keys.link(repo, digest)), this.bucket.delete(this.keys.blobRef(digest, repo))]);
    return true;
  }

  async mountBlob(repo: string, digest: string, from?: string): Promise<boolean> {
    let size: number | undefined;
    if (from !== undefined) {
      size = (await this.statBlob(from, digest))?.size;
    } else {
      // Anywhere in the registry: the content exists and some repository still holds it.
      const [content, holders] = await Promise.all([
        this.bucket.head(this.keys.content(digest)),
        (async () => {
          for await (const _ of this.bucket.list(this.keys.blobRefs(digest), 1)) return true;
          return false;
        })(),
      ]);
      if (content && holders) size = content.size;
    }
    if (size === undefined) return false;
    await this.link(repo, digest, size);
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

  cancelUpload(repo: string, id: string): Promise<boolean> {
    return this.uploads.cancel(repo, id);
  }

  purgeUploads(maxAgeMs: number): Promise<number> {
    return this.uploads.purge(maxAgeMs);
  }

  listUploads(): ReturnType<S3UploadSessions['list']> {
    return this.uploads.list();
  }

  removeUpload(id: string): Promise<void> {
    return this.uploads.remove(id);
  }

  // ---- manifests and tags

  async getManifest(repo: string, digest: string): Promise<StoredManifest | undefined> {
    const got = await this.bucket.getBytes(this.keys.manifest(repo, digest));
    if (!got) return undefined;
    return { digest, mediaType: got.contentType ?? 'application/octet-stream', bytes: got.bytes };
  }

  async resolveTag(repo: string, tag: string): Promise<string | undefined> {
    const text = (await this.bucket.getText(this.keys.tag(repo, tag)))?.trim();
    return text !== undefined && isValidDigest(text) ? text : undefined;
  }

  async putManifest(repo: string, m: ManifestRecord, tags: string[], options: PutManifestOptions = {}): Promise<void> {
    // Best effort: instances share no lock, so this check is not atomic with the write (s3 does not advertise tag-cas).
    if (options.ifTag) checkTagCondition(repo, options.ifTag, await this.resolveTag(repo, options.ifTag.tag));
    if (options.maxTags !== undefined && tags.length > 0) {
      // One LIST per 1,000 tags. Instances do not coordinate, so concurrent pushes through
      // several of them can overshoot the cap by what each adds at once.
      const prefix = this.keys.tags(repo);
      const existing = new Set((await this.bucket.listAll(prefix)).map((o) => o.key.slice(prefix.length)));
      checkTagCap(repo, existing.size, (t) => existing.has(t), tags, options.maxTags);
    }
    // Content, link, manifest record and referrer record first (in parallel), tags last: a tag
    // never points at something not yet in the bucket. Rewriting the content object is
    // idempotent (same bytes) and refreshes its age for GC's grace period.
    const writes: Array<Promise<void>> = [
      this.bucket.put(this.keys.content(m.digest), m.bytes, { contentType: m.mediaType }),
      this.link(repo, m.digest, m.bytes.length),
      this.bucket.put(this.keys.manifest(repo, m.digest), m.bytes, { contentType: m.mediaType }),
    ];
    if (m.subject) {
      writes.push(this.bucket.put(this.keys.referrer(repo, m.subject, m.digest), JSON.stringify(referrerDescriptor(m)), { contentType: 'application/json' }));
    }
    await Promise.all(writes);
    await Promise.all(tags.map((t) => this.bucket.put(this.keys.tag(repo, t), m.digest, { contentType: 'text/plain' })));
  }

  async deleteManifest(repo: string, digest: string): Promise<boolean> {
    const stored = await this.getManifest(repo, digest);
    if (!stored) return false;
    // Tags first, so no tag is left pointing at a manifest that is gone.
    const tagKeys = (await this.bucket.listAll(this.keys.tags(repo))).map((o) => o.key);
    const targets = await pLimit(16).map(tagKeys, async (k) => (await this.bucket.getText(k))?.trim());
    await this.bucket.deleteMany(tagKeys.filter((_, i) => targets[i] === digest));
    const subject = subjectOf(stored.bytes);
    if (subject) await this.bucket.delete(this.keys.referrer(repo, subject, digest));
    await this.bucket.delete(this.keys.manifest(repo, digest));
    await this.deleteBlob(repo, digest);
    return true;
  }

  async deleteTag(repo: string, tag: string): Promise<boolean> {
    const key = this.keys.tag(repo, tag);
    if (!(await this.bucket.head(key))) return false;
    await this.bucket.delete(key);
    return true;
  }

  async listTags(repo: string): Promise<string[] | undefined> {
    const prefix = this.keys.tags(repo);
    const tags: string[] = [];
    for await (const o of this.bucket.list(prefix)) tags.push(o.key.slice(prefix.length));
    if (tags.length === 0 && !(await this.repoExists(repo))) return undefined;
    return tags.sort(compareCodeUnits);
  }

  async listTagTargets(repo: string): Promise<Array<{ tag: string; digest: string }>> {
    const prefix = this.keys.tags(repo);
    const keys = (await this.bucket.listAll(prefix)).map((o) => o.key);
    const digests = await pLimit(16).map(keys, async (k) => (await this.bucket.getText(k))?.trim());
    const out: Array<{ tag: string; digest: string }> = [];
    keys.forEach((k, i) => {
      const d = digests[i];
      if (d !== undefined && isValidDigest(d)) out.push({ tag: k.slice(prefix.length), digest: d });
    });
    return out;
  }

  async listReferrers(repo: string, digest: string): Promise<Descriptor[]> {
    const keys = (await this.bucket.listAll(this.keys.referrers(repo, digest))).map((o) => o.key);
    const records = await pLimit(16).map(keys, async (k) => {
      try {
        return JSON.parse((await this.bucket.getText(k)) ?? 'null') as Descriptor | null;
      } catch {
        return null;
      }
    });
    return records.filter((d): d is Descriptor => d !== null && typeof d.digest === 'string').sort((a, b) => compareCodeUnits(a.digest, b.digest));
  }

  // ---- operations (used by the ops wiring when present)

  /**
   * statBlob that rewrites the link, so a GC running on another instance sees the blob as just
   * used. A link rewritten in the last few seconds is left alone: a push HEADs and references
   * the same blobs within moments, and GC's grace period is far longer than that.
   */
  async touchBlob(repo: string, digest: string): Promise<BlobInfo | undefined> {
    const found = await this.linkedBlob(repo, digest);
    if (!found) return undefined;
    if (found.modified < Date.now() - TOUCH_INTERVAL_MS) await this.link(repo, digest, found.size);
    return { digest, size: found.size };
  }

  /** Content-store totals (each digest once): one LIST of the content prefix. */
  async stats(): Promise<{ bytes: number; blobs: number }> {
    let bytes = 0;
    let blobs = 0;
    for await (const o of this.bucket.list(this.keys.contents())) {
      bytes += o.size;
      blobs++;
    }
    return { bytes, blobs };
  }

  gcStore(): GcStore {
    return new S3GcStore(this);
  }

  async close(): Promise<void> {
    if (this.ownsClient) this.bucket.client.destroy();
  }
}
