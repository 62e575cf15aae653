import type { DeleteGuard, GcObject, GcStore } from '../../src/server/ops/gc.js';
import { digestOf } from '../../src/oci/digest.js';
import type { TestBlob, TestImage, TestIndex } from '../helpers/images.js';

/**
 * GcStore over plain maps, shaped like the filesystem layout: each repository links blobs
 * (manifests are blobs too), tags point at manifests, and a digest's bytes exist once however
 * many repositories link them. A clock the test moves stands in for modification times.
 */
interface Link {
  size: number;
  modified: number;
}

export class MemoryGcStore implements GcStore {
  now = 1_000_000_000;
  readonly content = new Map<string, Buffer | number>(); // bytes for manifests, size for other blobs
  readonly repos = new Map<string, { tags: Map<string, string>; manifests: Map<string, Link>; blobs: Map<string, Link> }>();
  readonly uploads: Array<{ repository: string; id: string; size: number; modified: number }> = [];
  deletes: string[] = [];
  /** Hooks run at the start of the named call (once each) to simulate concurrent clients. */
  readonly before: Partial<Record<keyof GcStore, () => void>> = {};

  private repo(name: string) {
    let r = this.repos.get(name);
    if (!r) this.repos.set(name, (r = { tags: new Map(), manifests: new Map(), blobs: new Map() }));
    return r;
  }

  private hook(name: keyof GcStore) {
    const h = this.before[name];
    if (h) {
      delete this.before[name];
      h();
    }
  }

  putBlob(repo: string, b: TestBlob | { digest: string; size: number }): void {
    const desc = 'desc' in b ? b.desc : b;
    if (!this.content.has(desc.digest)) this.content.set(desc.digest, desc.size);
    this.repo(repo).blobs.set(desc.digest, { size: desc.size, modified: this.now });
  }

  putManifest(repo: string, bytes: Buffer, tag?: string): string {
    const digest = digestOf(bytes);
    this.content.set(digest, bytes);
    const r = this.repo(repo);
    r.manifests.set(digest, { size: bytes.length, modified: this.now });
    r.blobs.set(digest, { size: bytes.length, modified: this.now });
    if (tag) r.tags.set(tag, digest);
    return digest;
  }

  pushImage(repo: string, img: TestImage, tag?: string): string {
    this.putBlob(repo, img.config);
    for (const l of img.layers) this.putBlob(repo, l);
    return this.putManifest(repo, img.manifest.bytes, tag);
  }

  pushIndex(repo: string, index: TestIndex, tag?: string): string {
    for (const img of index.images) this.pushImage(repo, img);
    return this.putManifest(repo, index.manifest.bytes, tag);
  }

  /** Bump a blob's modification time, as the server does when a push reuses it. */
  touch(repo: string, digest: string): void {
    const l = this.repo(repo).blobs.get(digest);
    if (l) l.modified = this.now;
  }

  has(repo: string, digest: string): boolean {
    return this.repos.get(repo)?.blobs.has(digest) ?? false;
  }

  /** Every tag's manifest, children, config and layers are present: nothing reachable was lost. */
  missingReachable(): string[] {
    const missing: string[] = [];
    for (const [name, r] of this.repos) {
      const queue = [...r.tags.values()];
      const seen = new Set<string>();
      while (queue.length) {
        const d = queue.pop()!;
        if (seen.has(d)) continue;
        seen.add(d);
        if (!r.blobs.has(d)) {
          missing.push(`${name}@${d}`);
          continue;
        }
        const c = this.content.get(d);
        if (!Buffer.isBuffer(c) || !r.manifests.has(d)) continue;
        const m = JSON.parse(c.toString()) as { manifests?: Array<{ digest: string }>; config?: { digest: string }; layers?: Array<{ digest: string }> };
        for (const x of m.manifests ?? []) queue.push(x.digest);
        for (const x of [...(m.config ? [m.config] : []), ...(m.layers ?? [])]) if (!r.blobs.has(x.digest)) missing.push(`${name}@${x.digest}`);
      }
    }
    return missing;
  }

  // ---- GcStore ----
  async listRepositories(): Promise<string[]> {
    this.hook('listRepositories');
    return [...this.repos.keys()].sort();
  }
  async listTags(repository: string) {
    this.hook('listTags');
    return [...this.repo(repository).tags].map(([tag, digest]) => ({ tag, digest }));
  }
  async listManifests(repository: string): Promise<GcObject[]> {
    this.hook('listManifests');
    return [...this.repo(repository).manifests].map(([digest, l]) => ({ digest, ...l }));
  }
  async readManifest(repository: string, digest: string) {
    this.hook('readManifest');
    if (!this.repo(repository).manifests.has(digest)) return undefined;
    const c = this.content.get(digest);
    return Buffer.isBuffer(c) ? c : undefined;
  }
  async listBlobs(repository: string): Promise<GcObject[]> {
    this.hook('listBlobs');
    return [...this.repo(repository).blobs].map(([digest, l]) => ({ digest, ...l }));
  }
  async deleteManifest(repository: string, digest: string, guard: DeleteGuard) {
    this.hook('deleteManifest');
    const r = this.repo(repository);
    const l = r.manifests.get(digest);
    if (!l || l.modified >= guard.notModifiedSince) return false;
    r.manifests.delete(digest);
    r.blobs.delete(digest);
    for (const [t, d] of r.tags) if (d === digest) r.tags.delete(t);
    this.deletes.push(`manifest ${repository}@${digest}`);
    return true;
  }
  async deleteBlob(repository: string, digest: string, guard: DeleteGuard) {
    this.hook('deleteBlob');
    const r = this.repo(repository);
    const l = r.blobs.get(digest);
    if (!l || l.modified >= guard.notModifiedSince) return false;
    r.blobs.delete(digest);
    this.deletes.push(`blob ${repository}@${digest}`);
    return true;
  }
  async listUploads() {
    this.hook('listUploads');
    return this.uploads.map((u) => ({ ...u }));
  }
  async deleteUpload(repository: string, id: string) {
    this.hook('deleteUpload');
    const i = this.uploads.findIndex((u) => u.repository === repository && u.id === id);
    if (i < 0) return false;
    this.uploads.splice(i, 1);
    this.deletes.push(`upload ${repository}/${id}`);
    return true;
  }
}
