import pLimit from 'p-limit';
import type { DeleteGuard, GcObject, GcStore } from '../gc-store.js';
import { digestFromKey } from './keys.js';
import type { StoredManifest } from '../types.js';
import type { Bucket } from './bucket.js';
import type { KeyLayout } from './keys.js';
import { subjectOf } from '../referrers.js';

/** S3 keeps whole seconds: an object stamped T was written somewhere in [T, T+1s). */
const CLOCK_SLACK = 1000;

/**
 * Garbage collection over an S3 bucket, run by one instance while the others serve. Nothing
 * here takes a lock (there is none across instances); safety comes from ages in the bucket:
 *  - "modified" is the LastModified of the repository's link or manifest object. Instances
 *    rewrite the link when they upload, mount or touch a blob (touchBlob: HEAD, manifest PUT),
 *    and rewrite the manifest object on every PUT of that manifest (also a re-tag), so whatever
 *    a push in flight relies on looks young and is kept for the grace period;
 *  - every delete re-reads the age just before deleting and skips anything young;
 *  - the shared content object goes only when no repository links it any more and it is old.
 * The residual race (a push that relies on a blob in the instant between that re-read and the
 * delete) makes the push fail with MANIFEST_BLOB_UNKNOWN and retry; it never leaves a tag to
 * missing content, because manifest PUTs check their blobs.
 */
/**
 * What collection needs of the S3 backend, declared here so that this file does not import
 * s3.ts, which builds it (an import circle otherwise).
 */
export interface S3GcBackend {
  readonly bucket: Bucket;
  readonly keys: KeyLayout;
  listRepositories(): Promise<string[]>;
  listTagTargets(repo: string): Promise<Array<{ tag: string; digest: string }>>;
  getManifest(repo: string, digest: string): Promise<StoredManifest | undefined>;
  listUploads(): Promise<Array<{ id: string; repository: string; size: number; modified: number }>>;
  removeUpload(id: string): Promise<void>;
}

export class S3GcStore implements GcStore {
  constructor(private readonly s3: S3GcBackend) {}

  listRepositories(): Promise<string[]> {
    return this.s3.listRepositories();
  }

  listTags(repository: string): Promise<Array<{ tag: string; digest: string }>> {
    return this.s3.listTagTargets(repository);
  }

  async listManifests(repository: string): Promise<GcObject[]> {
    const out: GcObject[] = [];
    for await (const o of this.s3.bucket.list(this.s3.keys.manifests(repository))) {
      const digest = digestFromKey(o.key);
      if (digest) out.push({ digest, size: o.size, modified: o.modified + CLOCK_SLACK });
    }
    return out;
  }

  async readManifest(repository: string, digest: string): Promise<Uint8Array | undefined> {
    return (await this.s3.getManifest(repository, digest))?.bytes;
  }

  async listBlobs(repository: string): Promise<GcObject[]> {
    const links = await this.s3.bucket.listAll(this.s3.keys.links(repository));
    // Links are empty objects that carry the blob's size in metadata.
    const found = await pLimit(16).map(links, async (o): Promise<GcObject | undefined> => {
      const digest = digestFromKey(o.key);
      if (!digest) return undefined;
      const head = await this.s3.bucket.head(o.key);
      if (!head) return undefined;
      const size = Number(head.metadata.size);
      return { digest, size: Number.isSafeInteger(size) ? size : 0, modified: head.modified + CLOCK_SLACK };
    });
    return found.filter((o): o is GcObject => o !== undefined);
  }

  async deleteManifest(repository: string, digest: string, guard: DeleteGuard): Promise<boolean> {
    const key = this.s3.keys.manifest(repository, digest);
    const head = await this.s3.bucket.head(key);
    if (!head || head.modified + CLOCK_SLACK >= guard.notModifiedSince) return false;
    const stored = await this.s3.getManifest(repository, digest);
    if (!stored) return false;
    const subject = subjectOf(stored.bytes);
    if (subject) await this.s3.bucket.delete(this.s3.keys.referrer(repository, subject, digest));
    await this.s3.bucket.delete(key);
    await this.unlink(repository, digest, guard, true);
    return true;
  }

  async deleteBlob(repository: string, digest: string, guard: DeleteGuard): Promise<boolean> {
    return this.unlink(repository, digest, guard, false);
  }

  private async unlink(repository: string, digest: string, guard: DeleteGuard, force: boolean): Promise<boolean> {
    const link = this.s3.keys.link(repository, digest);
    const head = await this.s3.bucket.head(link);
    if (!head) return force;
    if (!force && head.modified + CLOCK_SLACK >= guard.notModifiedSince) return false;
    await Promise.all([this.s3.bucket.delete(link), this.s3.bucket.delete(this.s3.keys.blobRef(digest, repository))]);
    // The shared content: only when no repository links it and nobody wrote it recently.
    const holders = await this.s3.bucket.listAll(this.s3.keys.blobRefs(digest));
    if (holders.length === 0) {
      const content = await this.s3.bucket.head(this.s3.keys.content(digest));
      if (content && content.modified + CLOCK_SLACK < guard.notModifiedSince) await this.s3.bucket.delete(this.s3.keys.content(digest));
    }
    return true;
  }

  listUploads(): Promise<Array<{ repository: string; id: string; size: number; modified: number }>> {
    return this.s3.listUploads();
  }

  async deleteUpload(_repository: string, id: string): Promise<boolean> {
    await this.s3.removeUpload(id);
    return true;
  }
}
